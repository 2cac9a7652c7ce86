"""Use cases over the ports: apps, deploys, releases, config; no SDK imports."""
