"""Container resource use from the engine's one-shot stats, CPU % from consecutive samples.

A plain `stats(stream=False)` takes 1-2 s per container: the engine waits for a second
sample to fill `precpu_stats`. With `one-shot` (API 1.41+) it answers at once with one
sample, so the CPU share is computed here against the previous call's sample of the same
container, kept in memory. The first call of a container has no CPU figure (None) unless
the engine filled `precpu_stats` itself (older engines without one-shot do).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.services.ports import ContainerUsage

ONE_SHOT_SINCE = (1, 41)
SAMPLE_MAX_AGE = 600.0  # seconds: a sample older than this is dropped (its container is likely gone)


@dataclass(frozen=True)
class CpuSample:
    """The cumulative counters of one stats answer, in nanoseconds."""

    container_ns: int
    system_ns: int
    online_cpus: int


def cpu_sample(stats: dict[str, Any], key: str = "cpu_stats") -> CpuSample | None:
    """The counters under `key` (cpu_stats or precpu_stats); None when the engine left them empty."""
    cpu = stats.get(key) or {}
    usage = cpu.get("cpu_usage") or {}
    total = usage.get("total_usage")
    system = cpu.get("system_cpu_usage")
    if not total or not system:
        return None
    online = cpu.get("online_cpus") or len(usage.get("percpu_usage") or ()) or 1
    return CpuSample(container_ns=int(total), system_ns=int(system), online_cpus=int(online))


def cpu_percent(current: CpuSample, previous: CpuSample | None) -> float | None:
    """The container's CPU use between two samples, as `docker stats` shows it (100 = one CPU).

    None without a previous sample, or when the counters did not move forward (a restarted
    container starts its count at zero again).
    """
    if previous is None:
        return None
    system_delta = current.system_ns - previous.system_ns
    container_delta = current.container_ns - previous.container_ns
    if system_delta <= 0 or container_delta < 0:
        return None
    return round(container_delta / system_delta * current.online_cpus * 100.0, 2)


def memory_used(stats: dict[str, Any]) -> int | None:
    """Memory in use without the page cache, as `docker stats` shows it (cgroup v1 and v2)."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    details = memory.get("stats") or {}
    cache = details.get("total_inactive_file", details.get("inactive_file", details.get("cache", 0)))
    return max(0, int(usage) - int(cache or 0))


def memory_limit(stats: dict[str, Any]) -> int | None:
    limit = (stats.get("memory_stats") or {}).get("limit")
    return int(limit) if limit else None


def supports_one_shot(api_version: str) -> bool:
    parts = tuple(int(part) for part in api_version.split(".")[:2] if part.isdigit())
    return parts >= ONE_SHOT_SINCE


class UsageSampler:
    """Turns stats answers into `ContainerUsage`, remembering each container's last CPU sample."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: dict[str, tuple[float, CpuSample]] = {}
        self._lock = threading.Lock()

    def usage(self, container_id: str, stats: dict[str, Any]) -> ContainerUsage:
        current = cpu_sample(stats)
        now = self._clock()
        with self._lock:
            self._samples = {k: v for k, v in self._samples.items() if now - v[0] <= SAMPLE_MAX_AGE}
            kept = self._samples.get(container_id)
            previous = kept[1] if kept else cpu_sample(stats, "precpu_stats")
            if current is not None:
                self._samples[container_id] = (now, current)
        return ContainerUsage(
            cpu_percent=cpu_percent(current, previous) if current is not None else None,
            memory_used=memory_used(stats),
            memory_limit=memory_limit(stats),
        )
