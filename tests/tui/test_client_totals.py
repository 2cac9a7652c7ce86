"""The apps table's CPU and memory of an app: its containers' figures of the stats endpoint added up."""

from tui.client import with_totals


def test_container_figures_are_added_up_and_unknown_ones_left_out() -> None:
    stats = {
        "app": "web",
        "containers": [
            {"cpu_percent": 12.5, "memory_used_bytes": 1000},
            {"cpu_percent": None, "memory_used_bytes": 24},
        ],
        "requests_per_second": 1.5,
    }
    totals = with_totals(stats)
    assert (totals["cpu_percent"], totals["memory_bytes"]) == (12.5, 1024)
    assert totals["requests_per_second"] == 1.5


def test_no_figures_read_unknown() -> None:
    totals = with_totals({"app": "web", "containers": [{"cpu_percent": None}]})
    assert totals["cpu_percent"] is None and totals["memory_bytes"] is None
