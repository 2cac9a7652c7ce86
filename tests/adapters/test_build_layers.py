"""The build-layer bookkeeping of DockerRuntime, without Docker: output parsing and the journal."""

import threading
from pathlib import Path

from controller.adapters.docker.layers import LayerJournal, LayerTracker

# What Docker 20.10's classic builder streamed (line by line) for real builds.
FAILED_BUILD = """Step 1/5 : FROM dockyard-test/busybox:latest
 ---> dacbac710c0b
Step 2/5 : RUN echo one > /one
 ---> Running in 1d056d5e7233
Removing intermediate container 1d056d5e7233
 ---> 296f1373f79d
Step 3/5 : ENV X=1
 ---> Running in bb54e63aa32c
Removing intermediate container bb54e63aa32c
 ---> d042fe789325
Step 4/5 : RUN exit 3
 ---> Running in dc3b9f10ac57
Removing intermediate container dc3b9f10ac57
"""
CACHED_MULTI_STAGE = """Step 1/6 : FROM dockyard-test/busybox:latest AS b
 ---> dacbac710c0b
Step 2/6 : RUN echo ms > /one
 ---> Using cache
 ---> a1a0a6f0703e
Step 3/6 : COPY f.txt /f
 ---> f4eb8163ab79
Step 4/6 : FROM dockyard-test/busybox:latest
 ---> dacbac710c0b
Step 5/6 : COPY --from=b /one /one
 ---> 2b4fe63ecd5e
Step 6/6 : LABEL a=b
 ---> Running in 845d45414f27
Removing intermediate container 845d45414f27
 ---> d098d2587f16
Successfully built d098d2587f16
"""
ONBUILD_TRIGGERS = """Step 1/2 : from probe:onb
# Executing 1 build trigger
 ---> Running in 8eb291021924
Removing intermediate container 8eb291021924
 ---> 1e5859f242cc
Step 2/2 : RUN exit 2
"""


def _tracked(output: str) -> list[str]:
    tracker = LayerTracker()
    for line in output.splitlines():
        tracker.feed(line)
    return tracker.new_layers


def test_the_layers_a_failed_build_created_are_tracked_but_not_its_base() -> None:
    assert _tracked(FAILED_BUILD) == ["296f1373f79d", "d042fe789325"]


def test_cache_hits_and_from_steps_are_not_tracked() -> None:
    assert _tracked(CACHED_MULTI_STAGE) == ["f4eb8163ab79", "2b4fe63ecd5e", "d098d2587f16"]


def test_a_from_that_ran_onbuild_triggers_created_a_layer() -> None:
    assert _tracked(ONBUILD_TRIGGERS) == ["1e5859f242cc"]


def test_the_journal_keeps_ids_once_in_order_and_discards(tmp_path: Path) -> None:
    journal = LayerJournal(tmp_path / "data" / "build-layers")

    assert journal.read() == []
    journal.add(["sha256:a", "sha256:b", "sha256:a"])
    journal.add(["sha256:b", "sha256:c"])
    assert journal.read() == ["sha256:a", "sha256:b", "sha256:c"]
    assert (tmp_path / "data" / "build-layers").read_text() == "sha256:a\nsha256:b\nsha256:c\n"

    journal.discard({"sha256:b", "sha256:unknown"})
    assert LayerJournal(tmp_path / "data" / "build-layers").read() == ["sha256:a", "sha256:c"]


def test_concurrent_additions_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "build-layers"

    def add(worker: int) -> None:
        journal = LayerJournal(path)  # one per thread: the lock file must serialise them
        for index in range(50):
            journal.add([f"sha256:{worker}-{index}"])
            if index % 10 == 0:
                journal.discard({f"sha256:{worker}-{index}"})

    threads = [threading.Thread(target=add, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    expected = {f"sha256:{w}-{i}" for w in range(4) for i in range(50) if i % 10}
    assert set(LayerJournal(path).read()) == expected
