"""The GUI's fast tier: the API tier's bed (real services, faked outside world) in a browser's shoes."""

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.api.conftest import Bed, bed, migrated_database

__all__ = ["bed", "migrated_database"]
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
ADMIN = "root"
PASSWORD = "correct horse battery staple"


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


@dataclass
class Browser:
    """A logged-in TestClient: cookies kept, no redirects followed, forms posted with the token."""

    bed: Bed
    client: TestClient
    csrf: str

    def get(self, url: str, **kwargs: Any) -> Response:
        response: Response = self.client.get(url, follow_redirects=False, **kwargs)
        return response

    def post(self, url: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> Response:
        form = {**(data or {}), **({"csrf": self.csrf} if csrf else {})}
        response: Response = self.client.post(url, data=form, follow_redirects=False)
        return response


def log_in(client: TestClient, user: str = ADMIN, password: str = PASSWORD) -> Response:
    page = client.get("/login")
    response: Response = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "user": user, "password": password, "next": "/"},
        follow_redirects=False,
    )
    return response


def add_user(bed: Bed, name: str, role: str, apps: list[str] | None = None) -> None:
    bed.services.accounts.users.add(name, role=role, apps=apps, password=PASSWORD)


def browser_of(bed: Bed, user: str, client: TestClient | None = None) -> Browser:
    """`user` logged in on `client` (the bed's own by default)."""
    client = client or bed.client
    assert log_in(client, user).status_code == 303
    return Browser(bed, client, csrf_of(client.get("/").text))


@pytest.fixture
def browser(bed: Bed) -> Browser:
    """An admin user logged in."""
    add_user(bed, ADMIN, "admin")
    return browser_of(bed, ADMIN)
