"""Every third-party module the shipped packages import is a declared dependency.

The development venv holds test tools whose own dependencies (e.g. trustme's cryptography) make
an undeclared import work there and fail in the image or a fresh install. The slow venv tests
catch that at run time for the code they execute; this catches it for every module, lazily
imported ones included, in well under a second.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.deploy.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SHIPPED = PYPROJECT["tool"]["setuptools"]["packages"]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _guarded(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` blocks and ``try: ... except ImportError`` are not hard imports."""
    if isinstance(node, ast.If):
        test = node.test
        return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
    if isinstance(node, ast.Try):
        caught = {
            n.id
            for handler in node.handlers
            if handler.type is not None
            for n in ast.walk(handler.type)
            if isinstance(n, ast.Name)
        }
        return bool(caught & {"ImportError", "ModuleNotFoundError"})
    return False


def _imports(tree: ast.AST) -> set[str]:
    """Top-level names of modules imported anywhere outside guarded blocks."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if _guarded(node):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return found


def _third_party_imports() -> dict[str, set[str]]:
    """Module name -> files importing it, for modules neither stdlib nor shipped by us."""
    result: dict[str, set[str]] = {}
    for package in SHIPPED:
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for module in _imports(tree):
                if module in sys.stdlib_module_names or module in SHIPPED:
                    continue
                result.setdefault(module, set()).add(path.relative_to(REPO).as_posix())
    return result


def test_guarded_imports_are_not_counted() -> None:
    tree = ast.parse(
        "import a\nif TYPE_CHECKING:\n    import b\n"
        "try:\n    import c\nexcept ImportError:\n    c = None\n"
        "def f():\n    from d.e import g\n"
    )
    assert _imports(tree) == {"a", "d"}


def test_every_imported_distribution_is_declared() -> None:
    # "pydantic>=2.6,<3" -> "pydantic": the name is everything before the version specifier.
    declared = {
        _normalise(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0])
        for spec in PYPROJECT["project"]["dependencies"]
    }
    providers = packages_distributions()
    undeclared = {}
    for module, files in _third_party_imports().items():
        distributions = {_normalise(d) for d in providers.get(module, [module])}
        if not distributions & declared:
            undeclared[module] = sorted(files)
    assert undeclared == {}, (
        "imported but not in [project].dependencies of pyproject.toml (works in the dev venv "
        f"only through a test tool's dependencies): {undeclared}"
    )
