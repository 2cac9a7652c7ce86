"""App use cases: create, inspect, destroy, domains and config reads."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from controller.domain.errors import Conflict, DockyardError, NotFound
from controller.domain.models import App, ContainerInfo, Release
from controller.domain.names import validate_app_name, validate_domain
from controller.services.ports import Runtime, Store
from controller.services.routing import Routing

MASK = "********"
DESTROY_WAIT = 10.0


class AppEvents(Protocol):
    """Listeners of app changes (Dokku's post-<noun>-<verb> events); must not raise or block."""

    def post_domains_update(self, app: str) -> None: ...

    def post_app_destroy(self, app: str) -> None: ...


class AppLifecycle(Protocol):
    """Owners of per-app resources made with the app and removed with it (its git repo)."""

    def app_created(self, app: str) -> None: ...

    def app_destroyed(self, app: str) -> None: ...


@dataclass(frozen=True)
class AppDetails:
    """Everything `apps info` shows about one app."""

    app: App
    release: Release | None
    containers: tuple[ContainerInfo, ...]
    urls: tuple[str, ...]
    status: str


def app_status(app: App, containers: Sequence[ContainerInfo]) -> str:
    """One word for the app's state: not-deployed, stopped, running, degraded or crashed."""
    if app.current_release is None:
        return "not-deployed"
    web = [c for c in containers if c.process == "web" and c.release == app.current_release]
    running = sum(1 for c in web if c.state == "running")
    if app.web_scale == 0:
        return "stopped"
    if running >= app.web_scale:
        return "running"
    return "degraded" if running else "crashed"


class AppService:
    """Apps and their domains; changes that need containers go through DeployService."""

    def __init__(
        self,
        *,
        store: Store,
        runtime: Runtime,
        routing: Routing,
        base_domain: str | None,
        public_urls: Callable[[Sequence[str]], list[str]],
        events: AppEvents | None = None,
        lifecycle: Sequence[AppLifecycle] = (),
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._routing = routing
        self._base_domain = validate_domain(base_domain) if base_domain else None
        self._public_urls = public_urls
        self._events = events
        self._lifecycle = tuple(lifecycle)

    def create(self, name: str) -> App:
        """Create an app; with a base domain it also gets `<name>.<base domain>`."""
        validate_app_name(name)
        default_domain = f"{name}.{self._base_domain}" if self._base_domain else None
        if default_domain and any(default_domain in app.domains for app in self._store.list_apps()):
            raise Conflict(f"domain {default_domain} is already used by another app")
        self._store.create_app(name)
        if default_domain:
            self._store.add_domain(name, default_domain)
            self._domains_updated(name)
            self._routing.refresh()
        for owner in self._lifecycle:
            owner.app_created(name)
        return self._store.get_app(name)

    def all(self) -> list[App]:
        return self._store.list_apps()

    def get(self, name: str) -> App:
        return self._store.get_app(validate_app_name(name))

    def details(self, name: str) -> AppDetails:
        app = self.get(name)
        release = self._store.get_release(name, app.current_release) if app.current_release else None
        try:
            containers = tuple(self._runtime.list_containers(name))
            status = app_status(app, containers)
        except DockyardError:
            containers, status = (), "unknown"
        return AppDetails(
            app=app,
            release=release,
            containers=containers,
            urls=tuple(self._public_urls(app.domains)),
            status=status,
        )

    def destroy(self, name: str) -> None:
        """Remove the app's routes, containers, images and rows, in that order."""
        app = self.get(name)
        containers = self._runtime.list_containers(app.name)
        self._store.delete_app(app.name)
        self._routing.forget(app.name)
        if self._events:
            self._events.post_app_destroy(app.name)
        for owner in self._lifecycle:
            owner.app_destroyed(app.name)
        for container in containers:
            self._runtime.remove_container(container.id, stop_timeout=5)
        # The reconciler may be removing the same orphans: an image stays in use until
        # Docker has finished with every container of the app.
        deadline = time.monotonic() + DESTROY_WAIT
        while self._runtime.list_containers(app.name) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._runtime.prune_images(app.name, set())

    def add_domain(self, name: str, domain: str) -> App:
        app = self.get(name)
        domain = validate_domain(domain)
        self._store.add_domain(app.name, domain)
        self._domains_updated(app.name)
        try:
            self._routing.refresh()
        except BaseException:
            self._store.remove_domain(app.name, domain)
            raise
        return self._store.get_app(app.name)

    def _domains_updated(self, name: str) -> None:
        """Tell listeners once the store has the domains: a certificate order can run while
        the proxy reloads (nginx's default server answers its challenge meanwhile)."""
        if self._events:
            self._events.post_domains_update(name)

    def remove_domain(self, name: str, domain: str) -> App:
        app = self.get(name)
        domain = validate_domain(domain)
        if domain not in app.domains:
            raise NotFound(f"app {name!r} has no domain {domain}")
        self._store.remove_domain(app.name, domain)
        self._routing.refresh()
        return self._store.get_app(app.name)

    def config(self, name: str, *, reveal: bool) -> dict[str, str]:
        config = self._store.get_config(self.get(name).name)
        return config if reveal else {key: MASK for key in config}

    def releases(self, name: str) -> list[Release]:
        return self._store.list_releases(self.get(name).name)
