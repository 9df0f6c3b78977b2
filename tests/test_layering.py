"""The arrows go one way (pipelines -> assets -> resources), asset modules share only the assets package, and
artifact paths come from the store's Layout (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[str]:
    """Every module a file imports, at the top or inside a function."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def _files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _files("resources"), ids=lambda p: str(p.relative_to(REPO)))
def test_resources_import_nothing_above_them(path):
    upward = [m for m in _imports(path) if m.split(".")[0] in ("assets", "pipelines")]
    assert not upward, f"{path.relative_to(REPO)} imports {upward}: resources/ must not know assets/ or pipelines/"


@pytest.mark.parametrize("path", _files("assets"), ids=lambda p: str(p.relative_to(REPO)))
def test_asset_modules_do_not_import_each_other(path):
    others = [m for m in _imports(path)
              if m.startswith("assets.") and (REPO / (m.replace(".", "/") + ".py")).exists()]
    assert not others, (f"{path.relative_to(REPO)} imports {others}: share through assets/__init__.py, name other "
                        "assets by key and find their outputs through store.layout")


@pytest.mark.parametrize("path", _files("assets") + _files("pipelines"), ids=lambda p: str(p.relative_to(REPO)))
def test_paths_come_from_the_stores_layout(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    built = [n.lineno for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Layout"]
    folders = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant)
               and n.value in ("evaluations", "adapters", "registry", "summary.json", "latest.json")]
    assert not built, f"{path.relative_to(REPO)}:{built}: use store.layout instead of Layout(store.path())"
    assert not folders, f"{path.relative_to(REPO)}:{folders}: artifact folders are named in resources/layout.py"


def test_asset_lines_fit_in_120_characters():
    long = [f"{p.relative_to(REPO)}:{i}" for p in _files("assets")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if len(line) > 120]
    assert not long, f"lines over 120 characters: {long}"
