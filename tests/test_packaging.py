"""pyproject.toml and constraints.txt agree: every dependency is pinned, every import declared."""

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """The normalised project name of a PEP 508 requirement (`psycopg[binary]>=3.2` -> psycopg)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _project() -> tuple[list[str], dict[str, list[str]]]:
    """[project].dependencies and [project.optional-dependencies] of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]), dict(project["optional-dependencies"])


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions only: {line!r}"
            pins[_name(name)] = version
    return pins


def _requirements() -> list[str]:
    dependencies, extras = _project()
    for requirements in extras.values():
        dependencies += [r for r in requirements if not r.startswith("dockyard[")]
    return dependencies


def test_every_dependency_is_pinned_by_scripts_lock_sh() -> None:
    pins = _pins()
    missing = sorted({_name(r) for r in _requirements()} - set(pins))
    assert missing == [], f"run scripts/lock.sh: not in constraints.txt: {missing}"


# Import names that differ from their distribution's name.
DISTRIBUTION_OF = {
    "argon2": "argon2-cffi",
    "git": "gitpython",
    "yaml": "pyyaml",
    "swagger_ui_bundle": "swagger-ui-bundle-v2",
}


def _imports(package: Path) -> set[str]:
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_every_third_party_import_of_the_product_is_declared() -> None:
    declared = {_name(r) for r in _project()[0]}
    ours = {"controller", "tui", "proxy_templates"}
    third_party = {
        name
        for name in _imports(ROOT / "controller") | _imports(ROOT / "tui")
        if name not in ours and name != "_typeshed"  # _typeshed: mypy's, under TYPE_CHECKING
    } - set(sys.stdlib_module_names)
    undeclared = sorted(
        name for name in third_party if _name(DISTRIBUTION_OF.get(name, name)) not in declared
    )
    assert undeclared == [], (
        f"imported by controller/ or tui/ but not in [project].dependencies: {undeclared}"
    )
