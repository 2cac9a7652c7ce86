"""app.json health checks in Dokku's `healthchecks.web` shape."""

import json

import pytest

from controller.domain.appjson import parse_healthchecks
from controller.domain.errors import InvalidInput
from controller.domain.models import HealthCheck


def test_no_healthchecks_means_the_default_check() -> None:
    assert parse_healthchecks("{}") == ()
    assert parse_healthchecks(json.dumps({"name": "x", "healthchecks": {}})) == ()


def test_web_checks_are_read_with_dokku_field_names() -> None:
    text = json.dumps(
        {
            "healthchecks": {
                "web": [
                    {
                        "type": "startup",
                        "name": "ready",
                        "path": "/ready",
                        "attempts": 3,
                        "timeout": 2,
                        "wait": 1,
                        "initialDelay": 0.5,
                    },
                    {"type": "liveness", "command": ["true"]},
                ]
            }
        }
    )
    assert parse_healthchecks(text) == (
        HealthCheck(path="/ready", attempts=3, timeout=2.0, wait=1.0, initial_delay=0.5, name="ready"),
    )


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        json.dumps({"healthchecks": {"web": {}}}),
        json.dumps({"healthchecks": {"web": [{"path": "relative"}]}}),
        json.dumps({"healthchecks": {"web": [{"path": "/x y"}]}}),
        json.dumps({"healthchecks": {"web": [{"path": "/", "attempts": -1}]}}),
        json.dumps({"healthchecks": {"web": [{"path": "/", "timeout": "5"}]}}),
    ],
)
def test_bad_app_json_is_refused_with_a_reason(payload: str) -> None:
    with pytest.raises(InvalidInput, match=r"app\.json"):
        parse_healthchecks(payload)
