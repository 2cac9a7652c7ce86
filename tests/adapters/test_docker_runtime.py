"""DockerRuntime against the real engine: streamed builds, interrupts, containers, labels, pruning.

Every test works in its own instance id and network, and removes what it created.
"""

import contextlib
import dataclasses
import io
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from controller.adapters.docker.runtime import DockerRuntime
from controller.adapters.http_probe import HttpProber
from controller.domain.containers import (
    LABEL_INSTANCE,
    LABEL_MANAGED,
    ContainerSpec,
    base_labels,
    image_tag,
    web_container_spec,
)
from controller.domain.errors import BuildFailed, DeployCancelled, DockyardError, NotFound, RuntimeUnavailable
from controller.services.ports import BuiltImage
from tests.conftest import BUSYBOX_IMAGE, docker_socket_path, write_static_app

pytestmark = pytest.mark.integration

RUNNING_IN = re.compile(r"Running in ([0-9a-f]{12})")
LOOP_SCRIPT = 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.1; done'


class Sandbox:
    """One test's instance id, network and runtime; tracks what to clean up."""

    def __init__(self, client: docker.DockerClient, tmp_path: Path) -> None:
        token = secrets.token_hex(4)
        self.client = client
        self.instance = f"test-{token}"
        self.network = f"dockyard-test-{token}"
        self.runtime = DockerRuntime(instance=self.instance, network=self.network, timeout=30)
        self.tmp_path = tmp_path / token
        self.tmp_path.mkdir()

    def build(
        self, dockerfile: str, *, app: str = "web", on_log: Callable[[str], None] | None = None
    ) -> BuiltImage:
        context = self.tmp_path / secrets.token_hex(4)
        context.mkdir()
        (context / "Dockerfile").write_text(dockerfile)
        deploy_id = secrets.token_hex(6)
        return self.runtime.build_image(
            context_dir=context,
            tag=image_tag(app, deploy_id),
            labels=base_labels(self.instance, app),
            on_log=on_log or (lambda line: None),
            timeout=120,
        )

    def spec(self, image_id: str, *, app: str = "web", release: int = 1, index: int = 0) -> ContainerSpec:
        return web_container_spec(
            instance=self.instance,
            app=app,
            release=release,
            deploy_id=secrets.token_hex(6),
            index=index,
            image_id=image_id,
            config={"GREETING": "hello"},
            port=8080,
            network=self.network,
        )

    def clean(self) -> None:
        label = f"{LABEL_INSTANCE}={self.instance}"
        for container in self.client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True, v=True)
        for image in self.client.images.list(filters={"label": label}):
            for reference in image.tags or [str(image.id)]:
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.images.remove(reference, force=True)
        for network in self.client.networks.list(names=[self.network]):
            if network.name == self.network:
                network.remove()


@pytest.fixture
def client(docker_client: object) -> docker.DockerClient:
    assert isinstance(docker_client, docker.DockerClient)
    return docker_client


@pytest.fixture
def make_sandbox(
    client: docker.DockerClient, tmp_path: Path, busybox_image: str
) -> Iterator[Callable[[], Sandbox]]:
    sandboxes: list[Sandbox] = []

    def make() -> Sandbox:
        sandboxes.append(Sandbox(client, tmp_path))
        return sandboxes[-1]

    yield make
    for sandbox in sandboxes:
        sandbox.clean()


@pytest.fixture
def sandbox(make_sandbox: Callable[[], Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def unlabelled_container(client: docker.DockerClient, busybox_image: str) -> Iterator[str]:
    """A container that is not Dockyard's: it must never be listed, stopped or removed."""
    container = client.containers.run(
        busybox_image, ["sleep", "600"], name=f"not-dockyard-{secrets.token_hex(4)}", detach=True, init=True
    )
    yield str(container.id)
    container.remove(force=True)


def _container_gone(client: docker.DockerClient, container_id: str, *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not client.containers.list(all=True, filters={"id": container_id}):
            return True
        time.sleep(0.1)
    return False


def _wait_for(condition: Callable[[], bool], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -- builds ----------------------------------------------------------------------------------


def test_build_streams_lines_while_running_and_reads_exposed_ports(sandbox: Sandbox) -> None:
    seen: list[tuple[float, str]] = []
    token = secrets.token_hex(4)

    built = sandbox.build(
        f"FROM {BUSYBOX_IMAGE}\n"
        f"RUN echo first-{token} && sleep 1.5 && echo second\n"
        "EXPOSE 8080 7070 9090/udp\n",
        on_log=lambda line: seen.append((time.monotonic(), line)),
    )
    returned_at = time.monotonic()

    lines = [line for _, line in seen]
    step_one_at = next(at for at, line in seen if line.startswith("Step 1/"))
    assert returned_at - step_one_at > 1.0, "Step 1/ reached on_log only at the end"
    assert f"first-{token}" in lines
    assert all(line and not line.endswith("\n") for line in lines)
    assert built.id.startswith("sha256:")
    assert built.exposed_ports == (7070, 8080)
    assert sandbox.runtime.image_exposed_ports(built.id) == (7070, 8080)
    labels = sandbox.client.images.get(built.id).labels
    assert labels[LABEL_INSTANCE] == sandbox.instance
    assert labels[LABEL_MANAGED] == "true"


def test_failing_run_is_build_failed_and_leaves_no_container(sandbox: Sandbox) -> None:
    lines: list[str] = []

    with pytest.raises(BuildFailed, match="returned a non-zero code: 3"):
        sandbox.build(
            f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(4)} && exit 3\n", on_log=lines.append
        )

    build_containers = RUNNING_IN.findall("\n".join(lines))
    assert build_containers
    assert all(_container_gone(sandbox.client, cid, within=5) for cid in build_containers)


def test_dockerfile_syntax_error_is_build_failed(sandbox: Sandbox) -> None:
    with pytest.raises(BuildFailed, match=r"(?i)unknown instruction"):
        sandbox.build(f"FROM {BUSYBOX_IMAGE}\nBOGUS instruction\n")


def test_missing_base_image_is_build_failed(sandbox: Sandbox) -> None:
    with pytest.raises(BuildFailed):
        sandbox.build(f"FROM dockyard-test/does-not-exist-{secrets.token_hex(4)}:latest\n")


def test_hanging_run_is_interrupted_by_the_timeout(sandbox: Sandbox) -> None:
    context = sandbox.tmp_path / "hang"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(4)} && sleep 600\n"
    )
    lines: list[str] = []
    started = time.monotonic()

    with pytest.raises(BuildFailed, match="timed out after 3 s"):
        sandbox.runtime.build_image(
            context_dir=context,
            tag=image_tag("web", secrets.token_hex(6)),
            labels=base_labels(sandbox.instance, "web"),
            on_log=lines.append,
            timeout=3,
        )

    assert time.monotonic() - started < 15
    build_containers = RUNNING_IN.findall("\n".join(lines))
    assert build_containers
    assert all(_container_gone(sandbox.client, cid, within=10) for cid in build_containers)


def test_cancel_interrupts_a_running_build(sandbox: Sandbox) -> None:
    context = sandbox.tmp_path / "cancel"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(4)} && sleep 600\n"
    )
    cancel = threading.Event()
    lines: list[str] = []

    def on_log(line: str) -> None:
        lines.append(line)
        if RUNNING_IN.search(line):
            threading.Timer(0.5, cancel.set).start()

    started = time.monotonic()
    with pytest.raises(DeployCancelled):
        sandbox.runtime.build_image(
            context_dir=context,
            tag=image_tag("web", secrets.token_hex(6)),
            labels=base_labels(sandbox.instance, "web"),
            on_log=on_log,
            timeout=120,
            cancel=cancel,
        )

    assert time.monotonic() - started < 15
    assert all(
        _container_gone(sandbox.client, cid, within=10) for cid in RUNNING_IN.findall("\n".join(lines))
    )


# -- containers ------------------------------------------------------------------------------


def test_run_container_serves_http_on_its_network_address(sandbox: Sandbox) -> None:
    app_dir = write_static_app(sandbox.tmp_path / "app", body="hello dockyard")
    built = sandbox.runtime.build_image(
        context_dir=app_dir,
        tag=image_tag("web", secrets.token_hex(6)),
        labels=base_labels(sandbox.instance, "web"),
        on_log=lambda line: None,
        timeout=60,
    )
    spec = dataclasses.replace(sandbox.spec(built.id), memory_bytes=64 * 1024 * 1024)

    info = sandbox.runtime.run_container(spec)

    assert info.address is not None
    assert info.state == "running"
    assert (info.name, info.app, info.release, info.process) == (spec.name, "web", 1, "web")
    prober = HttpProber()
    _wait_for(
        lambda: _status_or_none(prober, f"http://{info.address}:8080/") == 200,
        within=10,
        what="httpd to answer",
    )
    attrs = sandbox.client.api.inspect_container(info.id)
    assert attrs["HostConfig"]["Init"] is True
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert attrs["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "10m", "max-file": "3"},
    }
    assert not attrs["HostConfig"]["PortBindings"]
    assert "GREETING=hello" in attrs["Config"]["Env"]
    network = sandbox.client.networks.get(sandbox.network)
    assert network.attrs["Labels"] == {LABEL_MANAGED: "true"}
    assert network.attrs["Driver"] == "bridge"


def _status_or_none(prober: HttpProber, url: str) -> int | None:
    try:
        return prober.http_status(url, timeout=1)
    except OSError:
        return None


def test_inspect_logs_and_remove(sandbox: Sandbox) -> None:
    spec = dataclasses.replace(
        sandbox.spec(BUSYBOX_IMAGE),
        command=("sh", "-c", 'echo "out $GREETING"; echo err >&2; exec sleep 600'),
    )
    info = sandbox.runtime.run_container(spec)
    _wait_for(lambda: "err" in sandbox.runtime.container_logs(info.id), within=10, what="logs")

    inspected = sandbox.runtime.inspect_container(info.id)
    logs = sandbox.runtime.container_logs(info.id, tail=10)
    sandbox.runtime.remove_container(info.id, stop_timeout=5)

    assert inspected.state == "running"
    assert inspected.health is None
    assert inspected.address == info.address
    assert sorted(logs.splitlines()) == ["err", "out hello"]  # two pipes: no order between them
    assert _container_gone(sandbox.client, info.id, within=1)
    with pytest.raises(NotFound):
        sandbox.runtime.inspect_container(info.id)
    sandbox.runtime.remove_container(info.id)  # gone already: not an error


def test_container_usage_measures_cpu_between_two_samples(sandbox: Sandbox) -> None:
    spec = dataclasses.replace(
        sandbox.spec(BUSYBOX_IMAGE), command=("sh", "-c", "while true; do :; done"), memory_bytes=64 * 2**20
    )
    info = sandbox.runtime.run_container(spec)

    first = sandbox.runtime.container_usage(info.id)
    _wait_for(lambda: (sandbox.runtime.container_usage(info.id).cpu_percent or 0) > 0, within=10, what="CPU")

    assert first.cpu_percent is None  # one-shot: nothing to measure against yet
    assert first.memory_used is not None and first.memory_used > 0
    assert first.memory_limit == 64 * 2**20
    sandbox.runtime.remove_container(info.id, stop_timeout=1)
    with pytest.raises(NotFound):
        sandbox.runtime.container_usage(info.id)


def test_container_logs_rotate_at_their_size_limit(sandbox: Sandbox) -> None:
    sandbox.runtime = DockerRuntime(
        instance=sandbox.instance, network=sandbox.network, timeout=30, log_max_size="64k", log_max_files=2
    )
    spec = dataclasses.replace(
        sandbox.spec(BUSYBOX_IMAGE), command=("sh", "-c", "while true; do echo chatty chatty chatty; done")
    )
    info = sandbox.runtime.run_container(spec)
    attrs = sandbox.client.api.inspect_container(info.id)
    log_path = Path(attrs["LogPath"])

    _wait_for(lambda: Path(f"{log_path}.1").exists(), within=30, what="the log to rotate")
    # Stopped first: a rotation between listing the files and reading their sizes renames them.
    sandbox.client.api.kill(info.id)
    sandbox.client.api.wait(info.id, timeout=30)
    sizes = sum(path.stat().st_size for path in log_path.parent.glob(log_path.name + "*"))
    sandbox.runtime.remove_container(info.id, stop_timeout=1)

    assert attrs["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "64k", "max-file": "2"},
    }
    assert not Path(f"{log_path}.2").exists()
    assert sizes < 4 * 64 * 1024  # two files of 64k, with room for a write in flight


def test_healthcheck_status_is_reported(sandbox: Sandbox) -> None:
    built = sandbox.build(
        f'FROM {BUSYBOX_IMAGE}\nHEALTHCHECK --interval=1s --timeout=1s CMD true\nCMD ["sleep", "600"]\n'
    )
    info = sandbox.runtime.run_container(sandbox.spec(built.id))

    _wait_for(
        lambda: sandbox.runtime.inspect_container(info.id).health == "healthy", within=15, what="healthy"
    )
    assert [c.health for c in sandbox.runtime.list_containers("web")] == ["healthy"]


def test_start_failure_leaves_no_container(sandbox: Sandbox) -> None:
    # Without init the engine itself execs the command, so a missing one fails the start.
    spec = dataclasses.replace(sandbox.spec(BUSYBOX_IMAGE), command=("/does/not/exist",), init=False)

    with pytest.raises(DockyardError, match="does/not/exist"):
        sandbox.runtime.run_container(spec)

    assert not sandbox.client.containers.list(all=True, filters={"name": spec.name})


def test_a_command_that_dies_under_init_is_returned_exited(sandbox: Sandbox) -> None:
    spec = dataclasses.replace(sandbox.spec(BUSYBOX_IMAGE), command=("/does/not/exist",), restart_policy="no")

    info = sandbox.runtime.run_container(spec)

    _wait_for(lambda: sandbox.runtime.inspect_container(info.id).state == "exited", within=10, what="exit")


def test_follow_logs_merges_containers_and_stops_on_close(sandbox: Sandbox) -> None:
    specs = [
        dataclasses.replace(sandbox.spec(BUSYBOX_IMAGE, index=index), command=("sh", "-c", LOOP_SCRIPT))
        for index in range(2)
    ]
    infos = [sandbox.runtime.run_container(spec) for spec in specs]

    lines = sandbox.runtime.follow_logs([info.id for info in infos], tail=0, follow=True)
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    for line in lines:
        name, _, text = line.partition(" | ")
        assert text.startswith("tick ")
        seen.add(name)
        if seen == {info.name for info in infos} or time.monotonic() > deadline:
            break
    lines.close()

    assert seen == {info.name for info in infos}
    readers = [t for t in threading.enumerate() if t.name in {f"logs-{info.name}" for info in infos}]
    assert not any(reader.is_alive() for reader in readers)


def test_follow_logs_without_follow_ends_with_the_output(sandbox: Sandbox) -> None:
    spec = dataclasses.replace(
        sandbox.spec(BUSYBOX_IMAGE),
        command=("sh", "-c", "echo one; echo two >&2; printf three"),
        restart_policy="no",
    )
    info = sandbox.runtime.run_container(spec)
    _wait_for(lambda: sandbox.runtime.inspect_container(info.id).state == "exited", within=10, what="exit")

    lines = list(sandbox.runtime.follow_logs([info.id], tail=100, follow=False))

    assert sorted(lines) == [f"{info.name} | one", f"{info.name} | three", f"{info.name} | two"]


def test_follow_logs_of_a_missing_container_is_not_found(sandbox: Sandbox) -> None:
    with pytest.raises(NotFound):
        sandbox.runtime.follow_logs(["0" * 64], tail=10, follow=False)


def test_concurrent_runs_share_one_new_network(make_sandbox: Callable[[], Sandbox]) -> None:
    first = make_sandbox()
    runtimes = [DockerRuntime(instance=first.instance, network=first.network) for _ in range(4)]
    barrier = threading.Barrier(len(runtimes))
    errors: list[BaseException] = []

    def run(index: int) -> None:
        spec = dataclasses.replace(first.spec(BUSYBOX_IMAGE, index=index), command=("sleep", "600"))
        barrier.wait()
        try:
            assert runtimes[index].run_container(spec).address
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(runtimes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len([n for n in first.client.networks.list(names=[first.network]) if n.name == first.network]) == 1


def test_a_namesake_network_made_elsewhere_is_settled(sandbox: Sandbox) -> None:
    for _ in range(2):  # what two racing controllers can leave behind on engine 20.10
        sandbox.client.api.create_network(sandbox.network, driver="bridge", labels={LABEL_MANAGED: "true"})
    spec = dataclasses.replace(sandbox.spec(BUSYBOX_IMAGE), command=("sleep", "600"))

    info = sandbox.runtime.run_container(spec)

    assert info.address
    assert (
        len([n for n in sandbox.client.networks.list(names=[sandbox.network]) if n.name == sandbox.network])
        == 1
    )


# -- ownership: listing, removing, pruning ---------------------------------------------------


def test_list_containers_sees_only_this_instance(
    make_sandbox: Callable[[], Sandbox], unlabelled_container: str, client: docker.DockerClient
) -> None:
    ours, theirs = make_sandbox(), make_sandbox()
    sleeper = ("sleep", "600")
    web = ours.runtime.run_container(
        dataclasses.replace(ours.spec(BUSYBOX_IMAGE, release=3), command=sleeper)
    )
    worker = ours.runtime.run_container(
        dataclasses.replace(ours.spec(BUSYBOX_IMAGE, app="api", release=7), command=sleeper)
    )
    other = theirs.runtime.run_container(dataclasses.replace(theirs.spec(BUSYBOX_IMAGE), command=sleeper))

    listed = {c.id: c for c in ours.runtime.list_containers()}
    assert set(listed) == {web.id, worker.id}
    assert (listed[web.id].app, listed[web.id].release, listed[web.id].process) == ("web", 3, "web")
    assert listed[web.id].address == web.address
    assert listed[web.id].state == "running"
    assert [c.id for c in ours.runtime.list_containers("api")] == [worker.id]

    for container in listed.values():
        ours.runtime.remove_container(container.id, stop_timeout=1)
    ours.runtime.prune_images("web", set())

    assert ours.runtime.list_containers() == []
    assert [c.id for c in theirs.runtime.list_containers()] == [other.id]
    assert client.containers.get(unlabelled_container).status == "running"


def test_prune_images_keeps_listed_in_use_and_foreign_images(
    make_sandbox: Callable[[], Sandbox], client: docker.DockerClient
) -> None:
    ours, theirs = make_sandbox(), make_sandbox()
    kept, used, stale = (
        ours.build(f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(8)}\n") for _ in range(3)
    )
    other_app = ours.build(f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(8)}\n", app="api")
    other_instance = theirs.build(f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(8)}\n")
    stopped = ours.runtime.run_container(
        dataclasses.replace(ours.spec(used.id), command=("true",), restart_policy="no")
    )
    unlabelled_tag = f"dockyard-test/unlabelled:{secrets.token_hex(4)}"
    unlabelled, _ = client.images.build(
        fileobj=io.BytesIO(f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(8)}\n".encode()),
        tag=unlabelled_tag,
        rm=True,
    )
    try:
        removed = ours.runtime.prune_images("web", {kept.id})

        assert removed == [stale.id]
        for survivor in (kept, used, other_app, other_instance):
            assert client.images.get(survivor.id)
        assert client.images.get(str(unlabelled.id))
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(stale.id)

        ours.runtime.remove_container(stopped.id)
        assert ours.runtime.prune_images("web", {kept.id}) == [used.id]
    finally:
        client.images.remove(unlabelled_tag, force=True)


# -- an engine that is not there, then comes back --------------------------------------------


def test_unreachable_daemon_is_runtime_unavailable(tmp_path: Path) -> None:
    runtime = DockerRuntime(
        instance="test-nowhere", network="nowhere", base_url="unix:///tmp/nonexistent-docker.sock"
    )
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    spec = ContainerSpec(name="x", image="y", env={}, labels={}, network="nowhere")
    calls: list[Callable[[], object]] = [
        runtime.ping,
        lambda: runtime.run_container(spec),
        runtime.list_containers,
        lambda: runtime.build_image(
            context_dir=tmp_path, tag="x:y", labels={}, on_log=lambda line: None, timeout=5
        ),
        lambda: runtime.remove_container("abc"),
    ]
    for call in calls:
        with pytest.raises(RuntimeUnavailable, match="Docker daemon is not reachable"):
            call()


class _SocketRelay:
    """A unix socket at `path` relaying each connection to the real engine: a daemon we can stop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []

    def start(self) -> None:
        self._listener = socket.socket(socket.AF_UNIX)
        self._listener.bind(str(self.path))
        self._listener.listen()
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def stop(self) -> None:
        assert self._listener is not None
        self._listener.close()
        self.path.unlink()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(docker_socket_path())
            self._connections += [downstream, upstream]
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


def test_runtime_recovers_when_the_daemon_comes_back(tmp_path: Path) -> None:
    relay = _SocketRelay(tmp_path / "docker.sock")
    runtime = DockerRuntime(instance="test-relay", network="relay", base_url=f"unix://{relay.path}")

    with pytest.raises(RuntimeUnavailable):
        runtime.ping()
    relay.start()
    runtime.ping()
    assert isinstance(runtime.list_containers(), list)
    relay.stop()
    with pytest.raises(RuntimeUnavailable):
        runtime.list_containers()
    relay.start()
    runtime.ping()
    relay.stop()
