"""Waiting for new containers to become healthy before they get traffic."""

import time
from collections.abc import Callable

from controller.domain.errors import ConnectionRefused, HealthCheckFailed, NotFound
from controller.domain.models import ContainerInfo, HealthCheck
from controller.services.ports import LogSink, Prober, Runtime

POLL_INTERVAL = 0.1


def _check_alive(runtime: Runtime, container_id: str) -> ContainerInfo:
    try:
        info = runtime.inspect_container(container_id)
    except NotFound as exc:
        raise HealthCheckFailed("the container disappeared while starting") from exc
    if info.state == "restarting":
        raise HealthCheckFailed("the container exited before it became healthy (Docker is restarting it)")
    if info.state not in ("running", "created"):
        raise HealthCheckFailed(f"the container {info.state} before it became healthy")
    if info.health == "unhealthy":
        raise HealthCheckFailed("the image's HEALTHCHECK reports unhealthy")
    return info


def wait_until_healthy(
    *,
    runtime: Runtime,
    prober: Prober,
    container: ContainerInfo,
    port: int,
    checks: tuple[HealthCheck, ...],
    budget: float,
    log: LogSink,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once `container` passes its checks; raise HealthCheckFailed otherwise.

    The image's own HEALTHCHECK (if any) must report healthy; then each app.json check
    must answer 2xx/3xx within its attempts, or, without app.json checks, GET / must
    answer anything but a 5xx within `budget` seconds. An exited container fails at once.
    """
    deadline = clock() + budget
    info = _check_alive(runtime, container.id)
    if info.health is not None:
        log(f"       Waiting for the image's HEALTHCHECK of {container.name}")
        while info.health != "healthy":
            if clock() > deadline:
                raise HealthCheckFailed(f"HEALTHCHECK still {info.health} after {budget:.0f} s")
            sleep(POLL_INTERVAL)
            info = _check_alive(runtime, container.id)
    base = f"http://{info.address}:{port}"
    if checks:
        for check in checks:
            _run_app_json_check(runtime, prober, container, base, port, check, log, sleep)
        return
    last_error = "no answer"
    refused = False
    while clock() <= deadline:
        _check_alive(runtime, container.id)
        try:
            status = prober.http_status(base + "/", timeout=min(5.0, max(0.5, deadline - clock())))
        except OSError as exc:
            refused = isinstance(exc, ConnectionRefusedError)
            last_error = _no_answer(port, exc)
        else:
            refused = False
            if status < 500:
                log(f"       {container.name}: GET / answered {status}")
                return
            last_error = f"GET / answered {status}"
        sleep(POLL_INTERVAL)
    if refused:
        raise ConnectionRefused(f"not healthy after {budget:.0f} s: {last_error}", port=port)
    raise HealthCheckFailed(f"not healthy after {budget:.0f} s: {last_error}")


def _no_answer(port: int, exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused on port {port}"
    return f"no answer on port {port} ({exc.__class__.__name__})"


def _run_app_json_check(
    runtime: Runtime,
    prober: Prober,
    container: ContainerInfo,
    base: str,
    port: int,
    check: HealthCheck,
    log: LogSink,
    sleep: Callable[[float], None],
) -> None:
    if check.initial_delay:
        sleep(check.initial_delay)
    last_error = "no answer"
    refused = False
    for _attempt in range(check.attempts):
        _check_alive(runtime, container.id)
        try:
            status = prober.http_status(base + check.path, timeout=check.timeout)
        except OSError as exc:
            refused = isinstance(exc, ConnectionRefusedError)
            last_error = _no_answer(port, exc)
        else:
            refused = False
            if 200 <= status < 400:
                log(f"       {container.name}: check {check.name!r} GET {check.path} answered {status}")
                return
            last_error = f"answered {status}"
        sleep(check.wait)
    message = f"check {check.name!r} GET {check.path} failed {check.attempts} times: {last_error}"
    if refused:
        raise ConnectionRefused(message, port=port)
    raise HealthCheckFailed(message)
