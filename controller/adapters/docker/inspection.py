"""The engine's inspect and list answers mapped to domain records (pure functions)."""

import re
import socket
from datetime import UTC, datetime
from typing import Any

import docker

from controller.domain.containers import LABEL_APP, LABEL_PROCESS, LABEL_RELEASE
from controller.domain.models import ContainerExit, ContainerInfo

DOCKER_DNS = "127.0.0.11"
_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_TCP_LISTEN = "0A"


def inspect_image(api: docker.APIClient, reference: str) -> dict[str, Any]:
    attrs: dict[str, Any] = api.inspect_image(reference)  # type: ignore[no-untyped-call]  # untyped in types-docker
    return attrs


def exposed_tcp_ports(image: dict[str, Any]) -> tuple[int, ...]:
    """The TCP ports of the image's EXPOSE instructions, ascending."""
    exposed = (image.get("Config") or {}).get("ExposedPorts") or {}
    ports = set()
    for key in exposed:
        port, _, protocol = key.partition("/")
        if protocol in ("tcp", "") and port.isdigit():
            ports.add(int(port))
    return tuple(sorted(ports))


def full_image_id(image_id: str) -> str:
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def int_label(labels: dict[str, str], key: str) -> int:
    value = labels.get(key, "")
    return int(value) if value.isdigit() else 0


def _address(networks: dict[str, Any], preferred: str) -> str | None:
    """The IPv4 address on `preferred`, else on any network, else None."""
    if preferred in networks:
        return (networks[preferred] or {}).get("IPAddress") or None
    for settings in networks.values():
        if (settings or {}).get("IPAddress"):
            return str(settings["IPAddress"])
    return None


def info_from_inspect(attrs: dict[str, Any], network: str) -> ContainerInfo:
    labels: dict[str, str] = attrs["Config"].get("Labels") or {}
    state = attrs["State"]
    return ContainerInfo(
        id=attrs["Id"],
        name=attrs["Name"].lstrip("/"),
        app=labels.get(LABEL_APP, ""),
        release=int_label(labels, LABEL_RELEASE),
        process=labels.get(LABEL_PROCESS, ""),
        address=_address(attrs["NetworkSettings"].get("Networks") or {}, network),
        state=state["Status"],
        health=(state.get("Health") or {}).get("Status"),
        restart_count=int(attrs.get("RestartCount") or 0),
        exit_code=None if state["Status"] in ("running", "created") else int(state.get("ExitCode") or 0),
        started_at=_docker_time(state.get("StartedAt")),
    )


def _docker_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times (nanoseconds are cut to micro); the zero time means never."""
    if not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def info_from_summary(summary: dict[str, Any], network: str) -> ContainerInfo:
    """ContainerInfo from a list entry; its health is only in the Status text."""
    labels: dict[str, str] = summary.get("Labels") or {}
    health = _HEALTH_IN_STATUS.search(summary.get("Status") or "")
    names = summary.get("Names") or [""]
    return ContainerInfo(
        id=summary["Id"],
        name=names[0].lstrip("/"),
        app=labels.get(LABEL_APP, ""),
        release=int_label(labels, LABEL_RELEASE),
        process=labels.get(LABEL_PROCESS, ""),
        address=_address((summary.get("NetworkSettings") or {}).get("Networks") or {}, network),
        state=summary["State"],
        health=health.group(1).removeprefix("health: ") if health else None,
    )


def exit_from_event(event: dict[str, Any], *, crashed: bool) -> ContainerExit:
    """What a container's `die` event says; `crashed` is decided by the caller."""
    attributes: dict[str, str] = (event.get("Actor") or {}).get("Attributes") or {}
    container_id = event_container_id(event)
    code = attributes.get("exitCode", "")
    return ContainerExit(
        app=attributes.get(LABEL_APP, ""),
        release=int_label(attributes, LABEL_RELEASE),
        process=attributes.get(LABEL_PROCESS, ""),
        container=attributes.get("name", container_id[:12]),
        exit_code=int(code) if code.lstrip("-").isdigit() else -1,
        at=datetime.fromtimestamp(event["timeNano"] / 1e9, UTC)
        if event.get("timeNano")
        else datetime.now(UTC),
        crashed=crashed,
    )


def event_container_id(event: dict[str, Any]) -> str:
    return str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")


def parse_proc_net_listeners(text: str) -> list[tuple[str, int]]:
    """The listening (address, port) pairs of a /proc/net/tcp or tcp6 table."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != _TCP_LISTEN or ":" not in fields[1]:
            continue
        address_hex, _, port_hex = fields[1].partition(":")
        try:
            port = int(port_hex, 16)
            raw = bytes.fromhex(address_hex)
        except ValueError:
            continue
        found.append((_proc_address(raw), port))
    return found


def _proc_address(raw: bytes) -> str:
    """/proc/net/tcp{,6} print each 32-bit word of the address in host (little-endian) order."""
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 4:
        return socket.inet_ntop(socket.AF_INET, words)
    if words[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, words[12:])
    return socket.inet_ntop(socket.AF_INET6, words)
