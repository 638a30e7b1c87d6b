"""The layout rules of docs/architecture.md: few modules at the top, none long, no import cycle."""
from __future__ import annotations

import ast
import re
from pathlib import Path


PKG = Path(__file__).resolve().parents[1] / "lib" / "scribcim"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imports(path: Path, modules: set[str]) -> set[str]:
    """The scribcim modules ``path`` imports anywhere (module level and inside functions); ``from pkg import name``
    counts as importing ``pkg.name`` when that is a module. A package is not counted as imported by the modules it
    holds (Python initialises it first)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "scribcim")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "scribcim":
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & modules
            found.update(subs or {target})
    return {m for m in found if m in modules and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_import_resolution():
    """Relative imports at any depth, ``from .. import module`` and function-level imports are all seen."""
    mods = all_modules()
    graph = {m: imports(p, set(mods)) for m, p in mods.items()}
    assert "scribcim.analysis.matching" in graph["scribcim.viz.figures"]     # `from ..analysis import matching`
    assert "scribcim.training.methods" in graph["scribcim.config.train_config"]  # inside a function
    assert "scribcim.errors" in graph["scribcim.data.fetch"]


def test_no_import_cycle():
    mods = all_modules()
    graph = {m: imports(p, set(mods)) for m, p in mods.items()}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


def test_config_never_imported_by_the_methods():
    """The method registry stands below the configuration: the configuration asks it, never the reverse."""
    mods = all_modules()
    assert not any(m.startswith("scribcim.config") for m in imports(mods["scribcim.training.methods"], set(mods)))


def test_top_level_is_short():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 12, top


def test_no_module_over_300_lines():
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_architecture_page_matches_the_tree():
    """docs/architecture.md names every package (one line each in its tree) and every module; no package it lists
    is missing from lib/scribcim."""
    page = (PKG.parents[1] / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"^  (\w+)/ ", page, flags=re.M))
    packages = {p.parent.name for p in PKG.glob("*/__init__.py")}
    assert listed == packages
    words = set(re.findall(r"\w+", page))
    missing = sorted(p.stem for p in PKG.rglob("*.py") if p.stem != "__init__" and p.stem not in words)
    assert not missing, missing
