"""Which containers serve which app: one authoritative map, pushed to the proxy under one lock."""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from controller.domain.containers import STATE_RESTARTING
from controller.domain.errors import NotFound
from controller.domain.models import ContainerInfo, Release, Site
from controller.services.ports import Proxy, Runtime, Store

logger = logging.getLogger(__name__)

RESTART_WAIT = 10.0  # seconds adoption waits for Docker to bring crashed serving containers back
RESTART_POLL = 0.1


class Backend(NamedTuple):
    """One container the proxy sends an app's traffic to."""

    container_id: str
    address: str  # "ip:port"


def backends_of(containers: list[ContainerInfo], port: int) -> tuple[Backend, ...]:
    return tuple(Backend(c.id, f"{c.address}:{port}") for c in containers if c.address)


class Routing:
    """Keeps app -> backends in memory, applies every change through the proxy, and records
    the serving container ids in the store so a restarted controller routes the same set.

    Every change goes through `_apply_locked`, so two deploys switching different apps
    at the same time can never push each other's stale view to nginx.
    """

    def __init__(
        self, *, store: Store, runtime: Runtime, proxy: Proxy, system_sites: Sequence[Site] = ()
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._proxy = proxy
        # Sites of the controller itself (the dashboard domain): fixed backends, never an app's.
        self._system_sites = tuple(system_sites)
        self._lock = threading.Lock()
        self._backends: dict[str, tuple[Backend, ...]] = {}

    def backends(self, app: str) -> tuple[Backend, ...]:
        with self._lock:
            return self._backends.get(app, ())

    def access_log(self, app: str, *, tail: int, follow: bool) -> Iterator[str]:
        """The last `tail` lines of the app's access log at the proxy, then (with `follow`) new ones."""
        return self._proxy.access_log(app, tail=tail, follow=follow)

    def reserved_domains(self) -> frozenset[str]:
        """The domains the controller's own sites serve: no app may claim them."""
        return frozenset(domain for site in self._system_sites for domain in site.domains)

    def _sites(self) -> list[Site]:
        sites = [
            Site(
                app=app.name,
                domains=app.domains,
                backends=tuple(sorted(b.address for b in self._backends.get(app.name, ()))),
            )
            for app in self._store.list_apps()
            if app.domains
        ]
        claimed = {domain for site in sites for domain in site.domains}
        for site in self._system_sites:
            taken = claimed.intersection(site.domains)
            if taken:  # an app had the name before it was reserved: the app keeps it
                logger.error(
                    "not serving %s on %s: an app has that domain", site.app, ", ".join(sorted(taken))
                )
                continue
            sites.append(site)
        return sites

    def _apply_locked(self, change: Callable[[], None], undo: Callable[[], None]) -> None:
        change()
        try:
            self._proxy.apply(self._sites())
        except Exception:
            undo()
            raise

    def switch(self, app: str, backends: tuple[Backend, ...]) -> None:
        """Route `app` to exactly `backends`; returns once old proxy workers are gone.

        The new serving set is recorded before the proxy routes to it: a controller killed
        in between restarts with containers that run and passed their health checks. The
        other way round, it would route again to the set the proxy had just left, which
        the deploy may have stopped by then (or someone else had: a one-container app then
        had no backend until the interrupted deploy ran again).
        """
        with self._lock:
            previous = self._backends.get(app)

            def change() -> None:
                self._backends[app] = backends

            def undo() -> None:
                if previous is None:
                    self._backends.pop(app, None)
                else:
                    self._backends[app] = previous
                self._store.set_serving(app, [b.container_id for b in previous or ()])

            self._store.set_serving(app, [b.container_id for b in backends])
            self._apply_locked(change, undo)

    def forget(self, app: str) -> None:
        """Drop an app's routes (after its store rows are gone)."""
        with self._lock:
            previous = self._backends.pop(app, None)

            def undo() -> None:
                if previous is not None:
                    self._backends[app] = previous

            self._apply_locked(lambda: None, undo)

    def refresh(self) -> None:
        """Re-render after domains changed."""
        with self._lock:
            self._apply_locked(lambda: None, lambda: None)

    def refresh_with(self, change: Callable[[], None], undo: Callable[[], None]) -> None:
        """Re-render after `change` (e.g. new certificate files), with no other render in between.

        `undo` runs when the proxy refuses the result.
        """
        with self._lock:
            self._apply_locked(change, undo)

    def follow_address(self, container_id: str) -> bool:
        """Route a serving container at the address it has now; True when its route moved.

        Docker gives a container that starts again (its restart policy after a crash, or
        the keeper after a stop) the lowest free address of its network, which is not
        always the one it had: the proxy would go on sending its app's requests to the old
        address, where nothing answers or another container now does.
        """
        with self._lock:
            if self._routed_app(container_id) is None:
                return False  # most starts are of deploys' new containers, not yet routed
        try:
            info = self._runtime.inspect_container(container_id)
        except NotFound:
            return False
        if info.state != "running" or not info.address:
            return False  # it died again: its next start is followed in turn
        with self._lock:
            app = self._routed_app(container_id)
            if app is None:
                return False  # not routed any more: a deploy retired it meanwhile
            backends = self._backends[app]
            moved = tuple(
                Backend(b.container_id, f"{info.address}:{b.address.rsplit(':', 1)[1]}")
                if b.container_id == container_id
                else b
                for b in backends
            )
            if moved == backends:
                return False  # it came back at its own address

            def change() -> None:
                self._backends[app] = moved

            def undo() -> None:
                self._backends[app] = backends

            self._apply_locked(change, undo)
        logger.warning("%s started again at %s: %s routed there", info.name, info.address, app)
        return True

    def _routed_app(self, container_id: str) -> str | None:
        """The app the proxy routes to `container_id`, if any (the caller holds the lock)."""
        for app, routed in self._backends.items():
            if any(b.container_id == container_id for b in routed):
                return app
        return None

    def ensure_proxy_current(self) -> bool:
        """Rewrite the proxy config if it drifted from the map (or the proxy died).

        Returns True when something had to be fixed.
        """
        with self._lock:
            sites = self._sites()
            if self._proxy.is_current(sites):
                return False
            self._proxy.ensure_running(sites)
            return True

    def adopt_running(self, *, restart_wait: float = RESTART_WAIT) -> list[Site]:
        """Rebuild the map from the store's serving sets and running containers (at start).

        A container that was serving and still runs is routed again, at its current
        address. Apps recorded before serving sets existed fall back to every running
        container of their current release. Returns the sites to start the proxy with.
        """
        self._wait_for_restarts(restart_wait)
        with self._lock:
            # Listed again under the lock: a deploy may have switched an app to a container
            # started since the wait's last list (Docker answering again as a deploy runs),
            # and a stale list would drop it from the map.
            containers = {c.id: c for c in self._runtime.list_containers() if c.state == "running"}
            self._backends.clear()
            for app in self._store.list_apps():
                if app.current_release is None:
                    continue
                release = self._store.get_release(app.name, app.current_release)
                serving = self._store.get_serving(app.name)
                if serving is None:
                    chosen = [
                        c
                        for c in containers.values()
                        if c.app == app.name and c.release == release.number and c.process == "web"
                    ]
                else:
                    chosen = [containers[cid] for cid in serving if cid in containers]
                # A controller killed between recording a deploy's containers and making their
                # release current left them serving: route them on their own release's port.
                ports = {c.release: self._release_port(app.name, c.release, release) for c in chosen}
                self._backends[app.name] = tuple(
                    Backend(c.id, f"{c.address}:{ports[c.release]}")
                    for c in sorted(chosen, key=lambda c: c.name)
                    if c.address
                )
            return self._sites()

    def _release_port(self, app: str, number: int, current: Release) -> int:
        if number == current.number:
            return current.port
        try:
            return self._store.get_release(app, number).port
        except NotFound:  # the release row is gone: the current one's port is the best guess
            return current.port

    def _wait_for_restarts(self, wait: float) -> None:
        """Return once Docker brought back the serving containers it restarts.

        Docker restarts a crashed container by itself (at the lowest free address, which
        adoption then routes). Adopting the routes during the restart would drop
        the container and leave a one-container app without a backend until a repair, so
        adoption waits for it (at most `wait` seconds: a crash loop is not waited out).
        """
        serving = {cid for app in self._store.list_apps() for cid in self._store.get_serving(app.name) or ()}
        deadline = time.monotonic() + wait
        while True:
            containers = self._runtime.list_containers()
            restarting = any(c.id in serving and c.state == STATE_RESTARTING for c in containers)
            if not restarting or time.monotonic() >= deadline:
                return
            time.sleep(RESTART_POLL)


class AddressFollower:
    """Follows started containers' addresses on a thread of its own, off the event stream's.

    `follow_address` may wait for the routing lock while a deploy's switch waits for the
    proxy's old workers to exit; the event stream (container deaths too) must not wait.
    """

    def __init__(self, routing: Routing) -> None:
        self._routing = routing
        self._started: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dockyard-address-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._started.put(None)

    def container_started(self, container_id: str) -> None:
        self._started.put(container_id)

    def _run(self) -> None:
        while (container_id := self._started.get()) is not None:
            try:
                self._routing.follow_address(container_id)
            except Exception:  # Docker or the proxy failed: the reconciler's pass tries again
                logger.exception("could not route %s at its new address", container_id[:12])
