"""Dockyard's bridge networks, created once even when several callers race for them."""

import threading
from contextlib import suppress
from typing import Any

import docker
import docker.errors

from controller.domain.containers import LABEL_MANAGED
from controller.domain.errors import NotFound

# One network creation at a time in this process, whichever DockerRuntime asks.
_NETWORK_CREATION = threading.Lock()


def ensure_network(api: docker.APIClient, name: str) -> str:
    """The id of the bridge network `name`, created (labelled as Dockyard's) when missing.

    Engine 20.10's duplicate check is not atomic: concurrent creates can give two networks
    one name, after which attaching by name fails as "ambiguous". So creation is serialised
    in this process, and should another process still make a namesake, every caller settles
    on the same one (the smallest id), attaches by id and removes the unused others.
    """
    with _NETWORK_CREATION:
        networks = _networks_named(api, name)
        if not networks:
            try:
                api.create_network(
                    name, driver="bridge", labels={LABEL_MANAGED: "true"}, check_duplicate=True
                )
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
            networks = _networks_named(api, name)
    if not networks:
        raise NotFound(f"network {name} vanished while it was being created")
    chosen, *others = sorted(networks, key=lambda network: str(network["Id"]))
    for other in others:
        if (other.get("Labels") or {}).get(LABEL_MANAGED) == "true":
            with suppress(docker.errors.APIError):
                api.remove_network(other["Id"])
    return str(chosen["Id"])


def _networks_named(api: docker.APIClient, name: str) -> list[dict[str, Any]]:
    # The engine's name filter matches substrings, so compare exactly.
    return [network for network in api.networks(names=[name]) if network["Name"] == name]
