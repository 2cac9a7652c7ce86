"""What the user of `dockyard deploy` sees: the release is reported live before old containers go."""

from pathlib import Path

import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import Controller

pytestmark = pytest.mark.integration


def test_live_is_reported_as_soon_as_traffic_switched_then_old_containers_retire(
    controller: Controller, tmp_path: Path
) -> None:
    controller.cli("apps", "create", "first")
    controller.cli("deploy", "first", "--path", str(write_static_app(tmp_path / "v1", body="v1")))

    v2 = write_static_app(tmp_path / "v2", body="v2")
    out = controller.cli("deploy", "first", "--path", str(v2)).stdout

    steps = [line for line in out.splitlines() if line.startswith(("----->", "=====>"))]
    live = next(i for i, line in enumerate(steps) if "first v2 is live" in line)
    switched = next(i for i, line in enumerate(steps) if line.startswith("-----> Switching traffic"))
    retiring = next(i for i, line in enumerate(steps) if line.startswith("-----> Retiring 1 old container"))
    assert switched < live < retiring, steps
    assert controller.get_app("first").text.strip() == "v2"
