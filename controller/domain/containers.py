"""Pure construction of what Dockyard asks Docker for: labels, names and container specs.

Like Kamal's `commands/`, these functions only describe; the Docker adapter executes.
"""

from dataclasses import dataclass, field

LABEL_PREFIX = "io.dockyard"
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"
LABEL_INSTANCE = f"{LABEL_PREFIX}.instance"
LABEL_APP = f"{LABEL_PREFIX}.app"
LABEL_RELEASE = f"{LABEL_PREFIX}.release"
LABEL_PROCESS = f"{LABEL_PREFIX}.process"
LABEL_DEPLOY = f"{LABEL_PREFIX}.deploy"
# Docker's state of a container that its restart policy is bringing back after a crash. It
# has no address meanwhile and comes back at the same one: leave it to Docker.
STATE_RESTARTING = "restarting"


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to start one app container; the adapter adds nothing of its own."""

    name: str
    image: str
    env: dict[str, str]
    labels: dict[str, str]
    network: str
    memory_bytes: int | None = None
    restart_policy: str = "unless-stopped"
    init: bool = True
    command: tuple[str, ...] | None = None
    extra_hosts: dict[str, str] = field(default_factory=dict)


def base_labels(instance: str, app: str) -> dict[str, str]:
    """Labels that mark an object as Dockyard's, of this controller instance and app."""
    return {LABEL_MANAGED: "true", LABEL_INSTANCE: instance, LABEL_APP: app}


def image_tag(app: str, deploy_id: str) -> str:
    """The tag of the image a build deploy produces."""
    return f"dockyard/{app}:{deploy_id}"


def web_container_spec(
    *,
    instance: str,
    app: str,
    release: int,
    deploy_id: str,
    index: int,
    image_id: str,
    config: dict[str, str],
    port: int,
    network: str,
    memory_bytes: int | None = None,
) -> ContainerSpec:
    """Describe web container number `index` of `release` of `app`.

    The app's own config comes first, then PORT, so PORT always matches what the
    proxy and health checks use.
    """
    labels = base_labels(instance, app) | {
        LABEL_RELEASE: str(release),
        LABEL_PROCESS: "web",
        LABEL_DEPLOY: deploy_id,
    }
    env = dict(config) | {"PORT": str(port), "DOCKYARD_APP": app, "DOCKYARD_RELEASE": str(release)}
    return ContainerSpec(
        name=f"dockyard-{instance}-{app}-web-{release}-{index}-{deploy_id[:8]}",
        image=image_id,
        env=env,
        labels=labels,
        network=network,
        memory_bytes=memory_bytes,
    )


DEFAULT_PORT = 5000


def port_source(config: dict[str, str], exposed: tuple[int, ...]) -> str:
    """Where `choose_port` took the port from, in words a user can act on."""
    configured = config.get("PORT", "").strip()
    if configured.isdigit() and 1 <= int(configured) <= 65535:
        return f"the app's PORT config ({configured})"
    if exposed:
        return f"the image's EXPOSE ({', '.join(map(str, exposed))}; the lowest is used)"
    return "Dockyard's default (no PORT config and no EXPOSE in the image)"


def choose_port(config: dict[str, str], exposed: tuple[int, ...]) -> int:
    """The port the app listens on: config PORT, else the lowest EXPOSEd TCP port, else 5000."""
    configured = config.get("PORT", "").strip()
    if configured.isdigit() and 1 <= int(configured) <= 65535:
        return int(configured)
    if exposed:
        return min(exposed)
    return DEFAULT_PORT
