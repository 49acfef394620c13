"""Dependencies point one way (STYLE.md): surfaces → analyses → engine → definitions; analyses → stats, store.

Parses imports rather than importing, so a wrong-way arrow fails here before it tangles the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "aha"

# part → parts of aha it must never import
FORBIDDEN = {
    "definitions": {"store", "engine", "analyses", "surfaces", "stats", "ingest", "sample", "guidance"},
    "stats": {"definitions", "store", "engine", "analyses", "surfaces", "results", "ingest", "sample", "guidance"},
    "engine": {"store", "analyses", "surfaces", "ingest", "sample", "guidance"},
    "store": {"engine", "analyses", "surfaces", "definitions", "guidance"},
    "analyses": {"surfaces", "guidance"},  # guidance reads the analyses' state, never the other way
    "guidance": {"surfaces"},
}
NO_IBIS = {"surfaces"}  # surfaces format results; they never build queries


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(part: str) -> list[Path]:
    return sorted((SRC / part).rglob("*.py"))


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_no_wrong_way_imports(part):
    bad = []
    for path in modules(part):
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "aha" and len(parts) > 1 and parts[1] in FORBIDDEN[part]:
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert bad == []


@pytest.mark.parametrize("part", sorted(NO_IBIS))
def test_surfaces_do_not_import_ibis(part):
    bad = [f"{p.relative_to(SRC)}" for p in modules(part) if any(n.split(".")[0] == "ibis" for n in imports_of(p))]
    assert bad == []
