"""Every untrusted name goes through one validator; hostile values are refused with a reason."""

import pytest

from controller.domain.errors import InvalidInput
from controller.domain.names import (
    is_hostname,
    validate_app_name,
    validate_domain,
    validate_env_key,
    validate_env_value,
    validate_process_count,
)


@pytest.mark.parametrize("name", ["web", "a", "my-app-2", "a" * 30, "0x"])
def test_valid_app_names(name: str) -> None:
    assert validate_app_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../x",
        "a;b",
        "A",
        "a" * 31,
        "a" * 200,
        "-a",
        "a-",
        "a_b",
        "a.b",
        "app; rm -rf /",
        "/etc/passwd",
        "a\nb",
        "a b",
        "dockyard",
        "api",
    ],
)
def test_hostile_app_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_app_name(name)


@pytest.mark.parametrize(
    ("domain", "expected"),
    [("Example.COM", "example.com"), ("a.b.c.io", "a.b.c.io"), ("xn--bcher-kva.de.", "xn--bcher-kva.de")],
)
def test_valid_domains_are_normalised(domain: str, expected: str) -> None:
    assert validate_domain(domain) == expected


@pytest.mark.parametrize(
    "domain",
    [
        "a.com;include /etc/shadow",
        "a.com\n",
        "a.com\nserver_name evil",
        "*.*",
        "*.a.com",
        "-a.com",
        "a-.com",
        "localhost",
        "a..com",
        "a.com}",
        "a.com ",
        "1.2.3.4",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "",
        "a.com/x",
        "a_b.com",
    ],
)
def test_hostile_domains_are_refused(domain: str) -> None:
    with pytest.raises(InvalidInput):
        validate_domain(domain)


@pytest.mark.parametrize("key", ["A=B", "A\nB", "", "1A", "A B", "A-B", "A;B"])
def test_hostile_env_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput):
        validate_env_key(key)


def test_env_values_may_hold_anything_but_nul() -> None:
    assert validate_env_value("K", "a=b; $(x)\n") == "a=b; $(x)\n"
    with pytest.raises(InvalidInput):
        validate_env_value("K", "a\x00b")
    with pytest.raises(InvalidInput):
        validate_env_value("K", "x" * 40_000)


def test_process_counts() -> None:
    assert validate_process_count("web", 3) == 3
    with pytest.raises(InvalidInput):
        validate_process_count("worker", 1)
    with pytest.raises(InvalidInput):
        validate_process_count("web", 51)


@pytest.mark.parametrize("name", ["a", "a.b", "xn--bcher-kva.example", "a-b.c0", "x" * 63 + ".c"])
def test_hostnames(name: str) -> None:
    assert is_hostname(name)


@pytest.mark.parametrize(
    "name", ["", "-a.b", "a-.b", "A.b", "a..b", "a.b.", "x" * 64 + ".c", "a." * 127 + "c", "a b", "a;b", None]
)
def test_not_hostnames(name: object) -> None:
    assert not is_hostname(name)


def test_hostname_labels() -> None:
    assert is_hostname("a.b", min_labels=2) and not is_hostname("localhost", min_labels=2)
