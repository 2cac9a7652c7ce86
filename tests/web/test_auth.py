"""Every GUI route needs a session, except the login form: the table is built from `app.routes`,
so a new page without the session dependency fails here."""

import re

import pytest

from tests.api.conftest import Bed
from tests.api.test_auth import SAMPLES, _endpoints

GUI = _endpoints(gui=True)
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("HEAD", "/login")}
PROTECTED = [endpoint for endpoint in GUI if endpoint not in PUBLIC]
GUI_SAMPLES = SAMPLES | {"user": "root", "key": "laptop", "page": "users"}


def _concrete(path: str) -> str:
    """`path` with a sample value in each of its parameters."""
    return re.sub(r"\{([^}:]+)[^}]*\}", lambda match: GUI_SAMPLES[match.group(1)], path)


def test_the_table_sees_the_gui() -> None:
    paths = {path for _, path in PROTECTED}
    assert {"/", "/apps/{name}", "/deploys/{deploy_id}", "/apps/{name}/config", "/logout"} <= paths


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_every_gui_route_sends_a_visitor_without_a_session_to_login(bed: Bed, method: str, path: str) -> None:
    response = bed.client.request(method, _concrete(path), follow_redirects=False)
    assert response.status_code == 303, (response.status_code, response.text)
    assert response.headers["location"].startswith("/login?next=")
    bearer = bed.client.request(
        method, _concrete(path), headers={"Authorization": "Bearer x"}, follow_redirects=False
    )
    assert bearer.status_code == 303  # the GUI takes no tokens, only its session cookie
    assert bed.services.store.list_apps() == []
