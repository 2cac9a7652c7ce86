"""Which containers serve which app: one authoritative map, pushed to the proxy under one lock."""

import threading
from collections.abc import Callable

from controller.domain.models import Site
from controller.services.ports import Proxy, Runtime, Store


class Routing:
    """Keeps app -> backends in memory and applies every change through the proxy.

    Every change goes through `_apply_locked`, so two deploys switching different apps
    at the same time can never push each other's stale view to nginx.
    """

    def __init__(self, *, store: Store, runtime: Runtime, proxy: Proxy) -> None:
        self._store = store
        self._runtime = runtime
        self._proxy = proxy
        self._lock = threading.Lock()
        self._backends: dict[str, tuple[str, ...]] = {}

    def backends(self, app: str) -> tuple[str, ...]:
        with self._lock:
            return self._backends.get(app, ())

    def _sites(self) -> list[Site]:
        return [
            Site(app=app.name, domains=app.domains, backends=self._backends.get(app.name, ()))
            for app in self._store.list_apps()
            if app.domains
        ]

    def _apply_locked(self, change: Callable[[], None], undo: Callable[[], None]) -> None:
        change()
        try:
            self._proxy.apply(self._sites())
        except Exception:
            undo()
            raise

    def switch(self, app: str, backends: tuple[str, ...]) -> None:
        """Route `app` to exactly `backends`; returns once old proxy workers are gone."""
        with self._lock:
            previous = self._backends.get(app)

            def change() -> None:
                self._backends[app] = backends

            def undo() -> None:
                if previous is None:
                    self._backends.pop(app, None)
                else:
                    self._backends[app] = previous

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

    def adopt_running(self) -> list[Site]:
        """Rebuild the map from the store and running containers (at controller start).

        Returns the sites, for starting or adopting the proxy with them.
        """
        containers = self._runtime.list_containers()
        with self._lock:
            self._backends.clear()
            for app in self._store.list_apps():
                if app.current_release is None:
                    continue
                release = self._store.get_release(app.name, app.current_release)
                self._backends[app.name] = tuple(
                    sorted(
                        f"{c.address}:{release.port}"
                        for c in containers
                        if c.app == app.name
                        and c.release == release.number
                        and c.process == "web"
                        and c.state == "running"
                        and c.address
                    )
                )
            return self._sites()
