"""Live figures of one app: each container's CPU, memory and restarts, and its proxy traffic."""

from dataclasses import dataclass

from controller.domain.errors import DockyardError, NotFound
from controller.domain.models import ContainerInfo
from controller.domain.names import validate_app_name
from controller.services.ports import ContainerUsage, Runtime, Store, TrafficMeter

NO_USAGE = ContainerUsage(cpu_percent=None, memory_used=None, memory_limit=None)


@dataclass(frozen=True)
class ContainerStats:
    """One container of the app with its resource use (None figures: not running, or unknown)."""

    container: ContainerInfo
    usage: ContainerUsage


@dataclass(frozen=True)
class AppStats:
    """What `GET /apps/{name}/stats` answers."""

    app: str
    containers: tuple[ContainerStats, ...]
    requests_per_second: float | None  # None: no meter (the proxy keeps no access log)
    errors_per_second: float | None  # 5xx answers
    window_seconds: float | None


class StatsService:
    """Samples an app's containers (one quick stats call each) and its proxy's request counts."""

    def __init__(self, *, store: Store, runtime: Runtime, traffic: TrafficMeter | None) -> None:
        self._store = store
        self._runtime = runtime
        self._traffic = traffic

    def of(self, name: str) -> AppStats:
        """Raises NotFound for an unknown app, RuntimeUnavailable when Docker does not answer."""
        app = self._store.get_app(validate_app_name(name))
        containers = []
        for summary in self._runtime.list_containers(app.name):
            try:
                info = self._runtime.inspect_container(summary.id)
                usage = self._runtime.container_usage(info.id) if info.state == "running" else NO_USAGE
            except NotFound:
                continue  # removed meanwhile
            except DockyardError:
                info, usage = summary, NO_USAGE
            containers.append(ContainerStats(container=info, usage=usage))
        containers.sort(key=lambda c: (c.container.process, c.container.release, c.container.name))
        if self._traffic is None:
            return AppStats(app.name, tuple(containers), None, None, None)
        traffic = self._traffic.traffic(app.name)
        return AppStats(
            app=app.name,
            containers=tuple(containers),
            requests_per_second=round(traffic.requests / traffic.window, 3),
            errors_per_second=round(traffic.errors / traffic.window, 3),
            window_seconds=traffic.window,
        )
