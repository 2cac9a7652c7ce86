"""Routes call service methods only: import-linter keeps adapters out of `controller.api`, and
this keeps the routes off the ports that `Services` carries for starting and stopping."""

import ast
from pathlib import Path

import controller.api

PORTS = {"store", "runtime", "proxy", "routing"}
API_DIR = Path(controller.api.__file__).parent


def _port_uses(source: str) -> list[str]:
    """`services.<port>` (or `owned.<port>`) attribute reads in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in PORTS
            and isinstance(node.value, ast.Name)
            and node.value.id in ("services", "owned")
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_the_check_finds_a_route_reaching_a_port() -> None:
    assert _port_uses("def route(services):\n    return services.store.list_apps()\n") == [
        "line 2: services.store"
    ]


def test_no_route_reaches_past_the_services() -> None:
    offenders = {
        path.name: uses for path in sorted(API_DIR.glob("*.py")) if (uses := _port_uses(path.read_text()))
    }
    assert offenders == {}
