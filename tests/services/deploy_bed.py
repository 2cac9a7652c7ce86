"""A deploy service over in-memory Docker, nginx and probes (tests/api/fakes.py, each checked
against its port by mypy), a real SqlStore on a temp SQLite file and real build dirs, with
hooks that let a test act in the middle of a rollout step (cancel, fail)."""

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from controller.adapters.build_dirs import BuildDirs
from controller.adapters.logstore import FileDeployLogStore
from controller.adapters.secrets import Cipher
from controller.adapters.store import SqlStore, upgrade_database
from controller.domain.containers import ContainerSpec
from controller.domain.models import ContainerInfo, Deploy, DeployStatus
from controller.services.deploy_logs import DeployLogHub
from controller.services.deploys import DeployService, PipelineSettings
from controller.services.events import EventBus
from controller.services.ports import BuildContexts, BuiltImage, LogSink, Prober, Runtime
from controller.services.routing import Routing
from tests.api.fakes import FakeProber, FakeProxy, FakeRuntime

WAIT = 30.0  # seconds: a generous bound for a job over fakes to end (it takes milliseconds)
REFUSED_BUDGET = 0.2  # seconds of health checks that find the port closed
Hook = Callable[[], None]


class SteppedRuntime(FakeRuntime):
    """The fake Docker, calling `hooks[step]` when a build ("build") or a container start ("run") happens."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, Hook] = {}

    def _hook(self, step: str) -> None:
        hook = self.hooks.pop(step, None)
        if hook is not None:
            hook()

    def build_image(
        self,
        *,
        context_dir: Path,
        tag: str,
        labels: dict[str, str],
        on_log: LogSink,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> BuiltImage:
        self._hook("build")
        return super().build_image(
            context_dir=context_dir, tag=tag, labels=labels, on_log=on_log, timeout=timeout, cancel=cancel
        )

    def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        info = super().run_container(spec)
        self._hook("run")
        return info


class SteppedProber(FakeProber):
    """The fake prober, calling `hooks["health"]` at the first health check after it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, Hook] = {}
        self.refuse = False  # every check finds the port closed

    def http_status(self, url: str, *, timeout: float) -> int:
        hook = self.hooks.pop("health", None)
        if hook is not None:
            hook()
        if self.refuse:
            raise ConnectionRefusedError(url)
        return self.status


@dataclass
class DeployBed:
    deploys: DeployService
    store: SqlStore
    runtime: SteppedRuntime
    proxy: FakeProxy
    prober: SteppedProber
    routing: Routing
    contexts: BuildDirs
    builds_dir: Path
    log_store: FileDeployLogStore

    def build(self, app: str, files: dict[str, str] | None = None) -> Deploy:
        """Queue the build of a context with `files` (a Dockerfile by default)."""

        def unpack(dest: Path) -> str:
            for name, text in (files or {"Dockerfile": "FROM scratch\n"}).items():
                (dest / name).write_text(text)
            return "digest-" + "-".join(sorted(files or {}))

        return self.deploys.request_build(app, unpack=unpack)

    def finished(self, deploy: Deploy) -> Deploy:
        final = self.deploys.wait(deploy.id, WAIT)
        assert final.status.is_final, final
        return final

    def deployed(self, app: str, files: dict[str, str] | None = None) -> Deploy:
        final = self.finished(self.build(app, files))
        assert final.status is DeployStatus.SUCCEEDED, final.error
        return final

    def log(self, deploy: Deploy) -> str:
        return "\n".join(self.log_store.read(deploy.id))

    def running_id(self, app: str) -> str:
        (running,) = [d for d in self.store.list_deploys(app) if d.status is DeployStatus.RUNNING]
        return running.id

    def cancel_running(self, app: str) -> Hook:
        """A hook that cancels the app's running deploy (the hooks run on its worker)."""

        def cancel() -> None:
            self.deploys.cancel(self.running_id(app))

        return cancel

    def serving(self, app: str) -> set[str]:
        return {b.container_id for b in self.routing.backends(app)}

    def fail_health_checks(self, *, refuse: bool = False) -> None:
        """New containers fail their health check: at once, or (`refuse`) after a short budget
        in which each check finds the port closed."""
        self.prober.status = 502
        self.prober.refuse = refuse
        budget = REFUSED_BUDGET if refuse else 0.0
        self.deploys._rollout.settings = replace(self.deploys._rollout.settings, health_timeout=budget)


def migrated_template(directory: Path) -> Path:
    path = directory / "template.sqlite"
    upgrade_database(f"sqlite:///{path}")
    return path


def deploy_bed(
    tmp_path: Path, template: Path, *, start: bool = True, **settings: object
) -> Iterator[DeployBed]:
    """The bed, started (jobs run) unless `start` is False; stopped afterwards."""
    database = tmp_path / "db.sqlite"
    shutil.copyfile(template, database)
    store = SqlStore(f"sqlite:///{database}", Cipher.from_key_file(tmp_path / "secret.key"))
    runtime, proxy, prober = SteppedRuntime(), FakeProxy(), SteppedProber()
    routing = Routing(store=store, runtime=runtime, proxy=proxy)
    builds_dir = tmp_path / "builds"
    builds_dir.mkdir()
    contexts = BuildDirs(builds_dir)
    log_store = FileDeployLogStore(tmp_path / "logs")
    values: dict[str, object] = {"stop_timeout": 0.0, "health_timeout": 5.0, "docker_retries": 1} | settings
    deploys = DeployService(
        store=store,
        runtime=runtime,
        prober=prober,
        routing=routing,
        logs=DeployLogHub(log_store),
        contexts=contexts,
        events=EventBus(),
        settings=PipelineSettings(instance="test", network="dockyard-test", **values),  # type: ignore[arg-type]
    )
    bed = DeployBed(deploys, store, runtime, proxy, prober, routing, contexts, builds_dir, log_store)
    if start:
        deploys.start()
    try:
        yield bed
    finally:
        deploys.stop()
        store.close()


def _checked() -> tuple[Runtime, Prober, BuildContexts]:
    """mypy: the stepped fakes and the build dirs still implement their ports (never called)."""
    return SteppedRuntime(), SteppedProber(), BuildDirs(Path())
