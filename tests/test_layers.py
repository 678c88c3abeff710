"""The package's architecture as a test: imports only run down the floors, and no module imports itself back.

Every ``import`` counts, at module level or inside a function: a deferred import that climbs back up is still a
dependency that runs the wrong way.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nst_bench"
# bottom to top; a unit may import itself and the units before it, never one after it
ORDER = ["errors", "config", "data", "run", "nets", "losses", "methods", "recipes", "sweeps", "evaluate", "pages",
         "cli"]
FLOORS = {"foundation": ["errors", "config", "data", "run"], "networks and losses": ["nets", "losses"],
          "methods": ["methods"], "programs": ["recipes", "sweeps", "evaluate", "pages"], "command line": ["cli"]}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """nst_bench modules imported anywhere in ``path`` (``from nst_bench.x import y`` counts y when it is a
    module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("nst_bench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nst_bench"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").is_file() or (
                    PACKAGE.parent / Path(*sub.split("."))).is_dir()
                out.add(sub if is_module else node.module)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) - {module_name(p)} for p in PACKAGE.rglob("*.py")}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "nst_bench"


def floors(g: dict[str, set[str]]) -> dict[str, int]:
    """Longest import chain below each module (0 = imports nothing of the package)."""
    memo: dict[str, int] = {}

    def depth(m: str) -> int:
        if m not in memo:
            memo[m] = 0
            memo[m] = 1 + max((depth(d) for d in g.get(m, ()) if d in g), default=-1)
        return memo[m]

    return {m: depth(m) for m in g}


def test_imports_only_run_down_the_floors():
    upward = [f"{m} -> {d}" for m, deps in graph().items() for d in deps
              if unit(m) in ORDER and unit(d) in ORDER and ORDER.index(unit(d)) > ORDER.index(unit(m))]
    assert not upward, "imports running back up:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    g = graph()
    cycles = []
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join([*path[path.index(d):], d]) if d in path else f"{m} -> {d}")
            elif d in g and not state.get(d):
                visit(d, [*path, d])
        state[m] = 2

    for m in sorted(g):
        if not state.get(m):
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_unit_has_a_floor():
    placed = [u for units in FLOORS.values() for u in units]
    assert placed == ORDER, "FLOORS groups ORDER, bottom to top"
    present = {unit(m) for m in graph()} - {"nst_bench"}
    assert present <= set(placed), f"a new package needs a place in ORDER and FLOORS: {present - set(placed)}"


if __name__ == "__main__":  # print the import picture: each floor, its modules, and the longest chain below each
    g = graph()
    depth = floors(g)
    for floor, units in FLOORS.items():
        print(f"## {floor}")
        for m in sorted((m for m in g if unit(m) in units), key=lambda m: (ORDER.index(unit(m)), m)):
            below = sorted(d.removeprefix("nst_bench.") for d in g[m] if d in g)
            print(f"  {m.removeprefix('nst_bench.'):<28} chain {depth[m]:>2}  <- imports: {', '.join(below) or '-'}")
    print(f"longest import chain: {max(depth.values())} modules")
