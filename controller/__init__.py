"""Dockyard: a self-hosted PaaS controller (git push / directory deploys to Docker behind nginx)."""

__version__ = "0.1.0"
