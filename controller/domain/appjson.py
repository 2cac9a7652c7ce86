"""Reading the repository conventions users already have: app.json health checks."""

import json
from typing import Any

from controller.domain.errors import InvalidInput
from controller.domain.models import HealthCheck

APP_JSON_MAX = 256 * 1024


def _number(entry: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(f"app.json healthchecks: {key} must be a number from {low} to {high}")
    return float(value)


def parse_healthchecks(text: str) -> tuple[HealthCheck, ...]:
    """Return the web health checks an app.json declares (empty if it declares none).

    Only HTTP checks (`type` "startup" or absent, with a `path`) are taken; Dokku's
    other check types are ignored, not failed.
    """
    if len(text) > APP_JSON_MAX:
        raise InvalidInput("app.json is larger than 256 KiB")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"app.json is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("app.json must be a JSON object")
    web = (data.get("healthchecks") or {}).get("web") if isinstance(data.get("healthchecks"), dict) else None
    if web is None:
        return ()
    if not isinstance(web, list):
        raise InvalidInput("app.json healthchecks.web must be a list")
    checks: list[HealthCheck] = []
    for index, entry in enumerate(web):
        if not isinstance(entry, dict):
            raise InvalidInput(f"app.json healthchecks.web[{index}] must be an object")
        if entry.get("type", "startup") not in ("startup", "readiness", "liveness"):
            continue
        path = entry.get("path")
        if path is None:
            continue
        if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in " \r\n\t"):
            raise InvalidInput(f"app.json healthchecks.web[{index}].path must be an absolute URL path")
        checks.append(
            HealthCheck(
                path=path,
                attempts=int(_number(entry, "attempts", 30, 1, 1000)),
                timeout=_number(entry, "timeout", 5, 0.1, 600),
                wait=_number(entry, "wait", 0.2, 0, 600),
                initial_delay=_number(entry, "initialDelay", 0, 0, 600),
                name=str(entry.get("name", f"check-{index}"))[:100],
            )
        )
    return tuple(checks)
