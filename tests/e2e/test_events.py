"""The event stream outlives the controller: a client resumes across a restart, missing nothing."""

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import Controller
from tests.e2e.sse import Event, current_event_id, read_events

pytestmark = pytest.mark.integration


def until_status(status: str) -> Callable[[list[Event]], bool]:
    """Until an event whose data has `status`, or a resync."""
    return lambda seen: seen[-1][1] == "resync" or seen[-1][2].get("status") == status


def test_a_client_resumes_the_event_stream_across_a_controller_restart(
    controller: Controller, tmp_path: Path
) -> None:
    ctl = controller
    ctl.cli("apps", "create", "resumed")
    ctl.cli("deploy", "resumed", "--path", str(write_static_app(tmp_path / "v1", body="one")))
    # The history's name is in every id; from its start (seq 0), all of it.
    epoch = current_event_id(ctl).rpartition("-")[0]
    first = read_events(ctl, f"{epoch}-0", until_status("succeeded"))
    # A client that saw the deploy start, then lost its connection...
    running = next(event_id for event_id, kind, data in first if data.get("status") == "running")
    ctl.kill()
    ctl.start()
    # ...comes back after the restart and gets exactly what it missed, no resync.
    resumed = read_events(ctl, running, until_status("succeeded"))
    assert "resync" not in [kind for _, kind, _ in resumed], resumed
    assert resumed[-1][2]["status"] == "succeeded" and resumed[-1][0] == first[-1][0]
    first_ids = [event_id for event_id, _, _ in first]
    assert [event_id for event_id, _, _ in resumed] == first_ids[first_ids.index(running) + 1 :]
