"""Command-line code stays in ``musclethick.cli``: the domain modules never import argparse."""

from __future__ import annotations

import ast
from pathlib import Path

import musclethick

PACKAGE = Path(musclethick.__file__).parent


def _imports(tree: ast.AST, package: list[str]) -> set[str]:
    """Absolute names of the modules imported anywhere in ``tree`` (also inside functions);
    ``package`` resolves relative imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _modules() -> dict[str, set[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[:-1]  # of a module and of a package's __init__ alike
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[".".join(parts)] = _imports(tree, package)
    return found


def test_only_the_cli_package_imports_argparse():
    modules = _modules()
    assert "musclethick.cli.__init__" in modules
    outside = sorted(
        name
        for name, imported in modules.items()
        if not name.startswith("musclethick.cli.")
        and any(i == "argparse" or i.startswith("argparse.") for i in imported)
    )
    assert outside == []


def test_stats_and_calibration_do_not_reach_up():
    modules = _modules()
    stats = modules["musclethick.stats"]
    assert not {i for i in stats if i.startswith(("musclethick.export", "musclethick.study"))}
    assert not {i for i in modules["musclethick.calibration"] if i.startswith("musclethick.io")}
    # the resolution of relative imports works: io/image.py imports ..calibration
    assert "musclethick.calibration" in modules["musclethick.io.image"]
