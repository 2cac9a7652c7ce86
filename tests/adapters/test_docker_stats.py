"""CPU % and memory from the engine's stats answers (pure: no Docker)."""

from typing import Any

import pytest

from controller.adapters.docker.stats import (
    CpuSample,
    UsageSampler,
    cpu_percent,
    cpu_sample,
    memory_used,
    supports_one_shot,
)


def answer(
    container_ns: int, system_ns: int, *, cpus: int = 2, pre: tuple[int, int] | None = None
) -> dict[str, Any]:
    """A one-shot stats answer: `precpu_stats` empty unless `pre` is given."""
    precpu: dict[str, Any] = {}
    if pre is not None:
        precpu = {"cpu_usage": {"total_usage": pre[0]}, "system_cpu_usage": pre[1], "online_cpus": cpus}
    return {
        "cpu_stats": {
            "cpu_usage": {"total_usage": container_ns},
            "system_cpu_usage": system_ns,
            "online_cpus": cpus,
        },
        "precpu_stats": precpu,
        "memory_stats": {"usage": 50_000_000, "limit": 1_000_000_000, "stats": {"inactive_file": 10_000_000}},
    }


def test_cpu_is_the_share_of_the_system_delta_times_the_cpus() -> None:
    previous = CpuSample(container_ns=1_000, system_ns=10_000, online_cpus=2)
    current = CpuSample(container_ns=3_000, system_ns=20_000, online_cpus=2)
    assert cpu_percent(current, previous) == 40.0  # 2,000 of 10,000 system ns, on 2 CPUs


def test_no_previous_sample_or_counters_going_back_give_no_figure() -> None:
    current = CpuSample(container_ns=3_000, system_ns=20_000, online_cpus=2)
    assert cpu_percent(current, None) is None
    assert cpu_percent(current, CpuSample(container_ns=5_000, system_ns=10_000, online_cpus=2)) is None
    assert cpu_percent(current, current) is None  # no system time passed


def test_online_cpus_fall_back_to_the_per_cpu_list() -> None:
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 5, "percpu_usage": [1, 2, 2, 0]}, "system_cpu_usage": 9}
    }
    assert cpu_sample(stats) == CpuSample(container_ns=5, system_ns=9, online_cpus=4)
    assert cpu_sample({"cpu_stats": {}}) is None


def test_memory_leaves_the_page_cache_out() -> None:
    assert memory_used(answer(1, 1)) == 40_000_000
    assert memory_used({"memory_stats": {"usage": 7, "stats": {"cache": 2}}}) == 5  # cgroup v1
    assert memory_used({"memory_stats": {}}) is None


def test_the_sampler_measures_against_the_previous_call() -> None:
    sampler = UsageSampler(clock=lambda: 0.0)
    first = sampler.usage("c1", answer(1_000, 10_000))
    assert first.cpu_percent is None  # one-shot: no precpu, no earlier sample
    assert first.memory_used == 40_000_000 and first.memory_limit == 1_000_000_000
    assert sampler.usage("c1", answer(3_500, 20_000)).cpu_percent == 50.0
    assert sampler.usage("c2", answer(3_500, 20_000)).cpu_percent is None  # each container its own


def test_the_first_call_uses_precpu_when_the_engine_filled_it() -> None:
    sampler = UsageSampler()
    assert sampler.usage("c1", answer(2_000, 20_000, pre=(1_000, 10_000))).cpu_percent == 20.0


def test_old_samples_are_forgotten() -> None:
    now = [0.0]
    sampler = UsageSampler(clock=lambda: now[0])
    sampler.usage("c1", answer(1_000, 10_000))
    now[0] = 10_000.0
    assert sampler.usage("c1", answer(3_000, 20_000)).cpu_percent is None


@pytest.mark.parametrize(
    ("version", "one_shot"), [("1.41", True), ("1.43", True), ("1.40", False), ("2.0", True)]
)
def test_one_shot_needs_api_1_41(version: str, one_shot: bool) -> None:
    assert supports_one_shot(version) is one_shot
