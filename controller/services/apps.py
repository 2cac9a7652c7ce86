"""App use cases: create, inspect, destroy, domains and config reads."""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from controller.domain.errors import Conflict, DockyardError, NotFound
from controller.domain.models import App, ContainerExit, ContainerInfo, Release
from controller.domain.names import validate_app_name, validate_domain
from controller.services.crashes import CRASH_LOOP, CrashLog
from controller.services.ports import LogLines, Runtime, Store
from controller.services.routing import Routing

MASK = "********"
DESTROY_WAIT = 10.0


class AppListener:
    """Reacts to app events, named like Dokku's post-<verb> hooks: the core emits each event
    to every listener in order, and a listener overrides only what it cares about (the
    certificates follow domains; the git repos follow the app's life). Must not block.
    """

    def post_create(self, app: str) -> None:
        """The app exists (with its default domain, if any)."""

    def post_domains_update(self, app: str) -> None:
        """The store has the app's new domains; the proxy may still be reloading."""

    def post_delete(self, app: str) -> None:
        """The app's rows and routes are gone; its containers are about to be."""


@dataclass(frozen=True)
class ReleaseView:
    """A release as `dockyard releases` lists it."""

    release: Release
    image_available: bool | None  # False: pruned, no rollback to it; None: Docker did not answer


@dataclass(frozen=True)
class AppDetails:
    """Everything `apps info` shows about one app."""

    app: App
    release: Release | None
    containers: tuple[ContainerInfo, ...]
    urls: tuple[str, ...]
    status: str
    crashes: tuple[ContainerExit, ...] = ()  # of the current release, lately, newest first


@dataclass(frozen=True)
class AppOverview:
    """What a list of every app shows of one: no per-app Docker inspect, so it is cheap."""

    app: App
    status: str
    running: int  # containers of the app that run


def app_status(app: App, containers: Sequence[ContainerInfo], crashes: int = 0) -> str:
    """One word for the app's state: not-deployed, stopped, running, degraded or crashed.

    `crashes` of the current release lately make a crash loop: "crashed" whether or not a
    container happens to be up between two crashes.
    """
    if app.current_release is None:
        return "not-deployed"
    web = [c for c in containers if c.process == "web" and c.release == app.current_release]
    running = sum(1 for c in web if c.state == "running")
    if app.web_scale == 0:
        return "stopped"
    if crashes >= CRASH_LOOP:
        return "crashed"
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
        public_urls: Callable[[str, Sequence[str]], list[str]],
        listeners: Sequence[AppListener] = (),
        crashes: CrashLog | None = None,
    ) -> None:
        self._crashes = crashes or CrashLog()
        self._store = store
        self._runtime = runtime
        self._routing = routing
        self._base_domain = validate_domain(base_domain) if base_domain else None
        self._public_urls = public_urls
        self._listeners = tuple(listeners)

    def create(self, name: str) -> App:
        """Create an app; with a base domain it also gets `<name>.<base domain>`."""
        validate_app_name(name)
        default_domain = f"{name}.{self._base_domain}" if self._base_domain else None
        if default_domain:
            self._refuse_reserved(default_domain)
        if default_domain and any(default_domain in app.domains for app in self._store.list_apps()):
            raise Conflict(f"domain {default_domain} is already used by another app")
        self._store.create_app(name)
        if default_domain:
            self._store.add_domain(name, default_domain)
            self._domains_updated(name)
            self._routing.refresh()
        for listener in self._listeners:
            listener.post_create(name)
        return self._store.get_app(name)

    def all(self) -> list[App]:
        return self._store.list_apps()

    def get(self, name: str) -> App:
        return self._store.get_app(validate_app_name(name))

    def overview(self, only: str | None = None) -> list[AppOverview]:
        """Every app (or just `only`) with its state and running containers, from one
        container listing (the URLs come with the certificates: `domain_certificates`)."""
        apps = [self.get(only)] if only is not None else self._store.list_apps()
        listed: list[ContainerInfo] | None
        try:
            listed = self._runtime.list_containers(only)
        except DockyardError:
            listed = None  # Docker is down: every state is unknown
        containers: dict[str, list[ContainerInfo]] = {}
        for container in listed or ():
            containers.setdefault(container.app, []).append(container)
        overviews = []
        for app in apps:
            own = containers.get(app.name, [])
            crashes = len(self._crashes.recent(app.name, app.current_release))
            overviews.append(
                AppOverview(
                    app=app,
                    status=app_status(app, own, crashes) if listed is not None else "unknown",
                    running=sum(1 for c in own if c.state == "running"),
                )
            )
        return overviews

    def details(self, name: str) -> AppDetails:
        app = self.get(name)
        release = self._store.get_release(name, app.current_release) if app.current_release else None
        crashes = tuple(self._crashes.recent(app.name, app.current_release))
        try:
            containers = tuple(self._inspected(self._runtime.list_containers(app.name)))
            status = app_status(app, containers, len(crashes))
        except DockyardError:
            containers, status = (), "unknown"
        return AppDetails(
            app=app,
            release=release,
            containers=containers,
            urls=tuple(self._public_urls(app.name, app.domains)),
            status=status,
            crashes=crashes,
        )

    def container_logs(self, name: str, *, tail: int, follow: bool, timestamps: bool) -> LogLines:
        """The output of the current release's web containers: the last `tail` lines, then followed."""
        app = self.get(name)
        containers = [
            c.id
            for c in self._runtime.list_containers(app.name)
            if c.process == "web" and c.release == app.current_release
        ]
        return self._runtime.follow_logs(containers, tail=tail, follow=follow, timestamps=timestamps)

    def access_log(self, name: str, *, tail: int, follow: bool) -> Iterator[str]:
        """The app's proxy access log: the last `tail` lines, then (with `follow`) new ones."""
        app = self.get(name)
        return self._routing.access_log(app.name, tail=tail, follow=follow)

    def _inspected(self, containers: Sequence[ContainerInfo]) -> list[ContainerInfo]:
        """The containers with what only an inspect tells: restarts, exit code, start time."""
        inspected = []
        for container in containers:
            try:
                inspected.append(self._runtime.inspect_container(container.id))
            except NotFound:
                continue  # removed meanwhile
        return sorted(inspected, key=lambda c: (c.process, c.release, c.name))

    def urls(self, name: str) -> list[str]:
        """The URLs the app's domains answer on, in the order of its domains."""
        app = self.get(name)
        return list(self._public_urls(app.name, app.domains))

    def destroy(self, name: str) -> None:
        """Remove the app's routes, containers, images and rows, in that order."""
        app = self.get(name)
        containers = self._runtime.list_containers(app.name)
        self._store.delete_app(app.name)
        self._routing.forget(app.name)
        self._crashes.forget(app.name)
        for listener in self._listeners:
            listener.post_delete(app.name)
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
        self._refuse_reserved(domain)
        self._store.add_domain(app.name, domain)
        self._domains_updated(app.name)
        try:
            self._routing.refresh()
        except BaseException:
            self._store.remove_domain(app.name, domain)
            raise
        return self._store.get_app(app.name)

    def _refuse_reserved(self, domain: str) -> None:
        if domain in self._routing.reserved_domains():
            raise Conflict(f"domain {domain} serves the Dockyard dashboard (DOCKYARD_DASHBOARD_DOMAIN)")

    def _domains_updated(self, name: str) -> None:
        """Tell listeners once the store has the domains: a certificate order can run while
        the proxy reloads (nginx's default server answers its challenge meanwhile)."""
        for listener in self._listeners:
            listener.post_domains_update(name)

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

    def releases(self, name: str) -> list[ReleaseView]:
        """Newest first, each with whether its image is still there to roll back to."""
        app = self.get(name).name
        releases = self._store.list_releases(app)
        try:
            present: set[str] | None = self._runtime.present_images(app, {r.image_id for r in releases})
        except DockyardError:
            present = None
        return [ReleaseView(r, None if present is None else r.image_id in present) for r in releases]
