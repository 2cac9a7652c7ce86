"""Counting requests and 5xx from an app's access log: incremental, windowed, rotation-proof."""

import os
from datetime import UTC, datetime
from pathlib import Path

from controller.adapters.nginx_traffic import AccessLogMeter, TrafficWindow, parse_line

NOW = datetime(2026, 12, 2, 1, 30, 0, tzinfo=UTC).timestamp()


def line(seconds_ago: int, status: int, path: str = "/") -> str:
    stamp = datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'127.0.0.1 - - [{stamp}] "GET {path} HTTP/1.1" {status} 12 "-" "curl/8.0"\n'


class Bed:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "web.access.log"
        self.now = NOW
        self.meter = AccessLogMeter(lambda app: tmp_path / f"{app}.access.log", clock=lambda: self.now)

    def write(self, text: str, mode: str = "a") -> None:
        with self.path.open(mode) as log:
            log.write(text)

    def counts(self) -> tuple[int, int]:
        traffic = self.meter.traffic("web")
        assert traffic.window == 60.0
        return traffic.requests, traffic.errors


def test_a_combined_line_gives_its_time_and_status() -> None:
    assert parse_line(line(0, 503).encode()) == ("02/Dec/2026:01:30:00 +0000", 503)
    quoted = '1.2.3.4 - - [02/Dec/2026:01:30:00 +0000] "GET /a\\x22b HTTP/1.1" 404 0 "-" "x"'
    assert parse_line(quoted.encode()) == ("02/Dec/2026:01:30:00 +0000", 404)
    assert parse_line(b"garbage") is None


def test_no_log_yet_counts_nothing(tmp_path: Path) -> None:
    assert Bed(tmp_path).counts() == (0, 0)


def test_only_the_last_minute_counts(tmp_path: Path) -> None:
    bed = Bed(tmp_path)
    bed.write(line(120, 500) + line(59, 200) + line(30, 502) + line(0, 404))
    assert bed.counts() == (3, 1)
    bed.now += 30  # the 59 s and 30 s old lines fall out
    assert bed.counts() == (1, 0)


def test_lines_are_read_once_and_new_ones_added(tmp_path: Path) -> None:
    bed = Bed(tmp_path)
    bed.write(line(5, 200))
    assert bed.counts() == (1, 0)
    assert bed.counts() == (1, 0)
    bed.write(line(1, 500) + line(0, 200))
    assert bed.counts() == (3, 1)


def test_an_unfinished_last_line_waits_for_its_end(tmp_path: Path) -> None:
    bed = Bed(tmp_path)
    whole = line(0, 500)
    bed.write(line(1, 200) + whole[:30])
    assert bed.counts() == (1, 0)
    bed.write(whole[30:])
    assert bed.counts() == (2, 1)


def test_a_rotated_log_is_read_from_its_start(tmp_path: Path) -> None:
    bed = Bed(tmp_path)
    bed.write(line(3, 200) + line(2, 200))
    assert bed.counts() == (2, 0)
    os.rename(bed.path, tmp_path / "web.access.log.1")
    bed.write(line(1, 500), mode="w")  # a new, shorter file at the path
    assert bed.counts() == (3, 1)


def test_a_truncated_log_is_read_from_its_start(tmp_path: Path) -> None:
    bed = Bed(tmp_path)
    bed.write(line(3, 200) + line(2, 200) + line(2, 200))
    assert bed.counts() == (3, 0)
    bed.write(line(1, 502), mode="w")  # same file, truncated (copytruncate)
    assert bed.counts() == (4, 1)


def test_apps_are_counted_apart(tmp_path: Path) -> None:
    bed = Bed(tmp_path)
    bed.write(line(0, 200))
    (tmp_path / "api.access.log").write_text(line(0, 500) + line(0, 500))
    assert bed.counts() == (1, 0)
    api = bed.meter.traffic("api")
    assert (api.requests, api.errors) == (2, 2)


def test_the_window_drops_old_buckets() -> None:
    window = TrafficWindow(window=60.0)
    for second in (0, 10, 70):
        window.add(second, 500)
    totals = window.totals(now=100.0)
    assert (totals.requests, totals.errors) == (1, 1)
    assert list(window.buckets) == [70]
