"""Why a new container failed its health check, in words a user can act on."""

from controller.domain.containers import port_source
from controller.domain.errors import ConnectionRefused, DockyardError
from controller.domain.models import ContainerInfo, Release
from controller.services.deploys.jobs import INDENT
from controller.services.ports import Runtime

OUTPUT_TAIL = 20  # lines of the container's output shown with the failure


def health_failure(runtime: Runtime, release: Release, container: ContainerInfo, exc: DockyardError) -> str:
    """The message of a failed health check: the reason, a port diagnosis, the container's last output."""
    tail = runtime.container_logs(container.id, tail=OUTPUT_TAIL).rstrip()
    message = f"{container.name} failed its health check: {exc}"
    if isinstance(exc, ConnectionRefused):
        message += "\n" + port_diagnosis(runtime, release, container, exc.port)
    if tail:
        message += "\nlast lines of its output:\n" + "\n".join(INDENT + line for line in tail.splitlines())
    return message


def port_diagnosis(runtime: Runtime, release: Release, container: ContainerInfo, port: int) -> str:
    """Why nothing answered on `port`: where that port came from, and where the app listens."""
    try:
        exposed = runtime.image_exposed_ports(release.image_id)
        source = port_source(release.config, exposed)
    except DockyardError:
        source = "the release"
    lines = [f"{INDENT}port {port} came from {source}"]
    try:
        listening = runtime.listening_ports(container.id)
    except DockyardError as exc:
        lines.append(f"{INDENT}could not read which ports the container listens on: {exc}")
        return "\n".join(lines)
    if not listening:
        lines.append(f"{INDENT}the container listens on no TCP port")
    else:
        shown = ", ".join(
            f"[{address}]:{listen_port}" if ":" in address else f"{address}:{listen_port}"
            for address, listen_port in listening
        )
        lines.append(f"{INDENT}the container listens on {shown}")
    loopback_only = [a for a, p in listening if p == port and a in ("127.0.0.1", "::1")]
    if loopback_only and len(loopback_only) == len([a for a, p in listening if p == port]):
        lines.append(
            f"{INDENT}it listens on {port} on loopback only: bind to 0.0.0.0 so the proxy reaches it"
        )
    else:
        lines.append(
            f"{INDENT}listen on $PORT in the app, or set the port: "
            f"dockyard config set {release.app} PORT=<port>"
        )
    return "\n".join(lines)
