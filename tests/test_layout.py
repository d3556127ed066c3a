"""The package layout: no module imports one that imports it back (at top level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _import_graph() -> dict[str, set[str]]:
    mods: dict[str, tuple[Path, bool]] = {}
    for f in (ROOT / "ssl4rec").rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        init = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if init else parts)] = (f, init)
    graph: dict[str, set[str]] = {}
    for m, (f, init) in mods.items():
        if init:  # package __init__ files re-export; the modules are what may not cycle
            continue
        pkg = m.rpartition(".")[0]
        out = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                for cand in [target, *(f"{target}.{a.name}" for a in node.names)]:
                    if cand in mods and not mods[cand][1] and cand != m:
                        out.add(cand)
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name in mods and not mods[a.name][1]}
        graph[m] = out
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = _import_graph()
    assert "ssl4rec.running.runner" in graph and "ssl4rec.running.builders" in graph["ssl4rec.running.runner"]
    assert _cycles(graph) == []


def test_reporting_never_runs_models():
    graph = _import_graph()
    running = ("ssl4rec.running.runner", "ssl4rec.running.builders", "ssl4rec.running.tuning")
    for m, deps in graph.items():
        if m.startswith("ssl4rec.reporting."):  # may read a suite (reproduction reports), never run one
            assert not {d for d in deps if d.startswith(running)}, m
        if m.startswith("ssl4rec.evaluation."):
            assert not {d for d in deps if d.startswith(("ssl4rec.running.", "ssl4rec.reporting."))}, m


def test_the_command_line_help_does_not_import_torch():
    """`ssl4rec --help` (and importing the package) stays light: components load on first lookup."""
    import subprocess
    import sys

    code = (
        "import sys, ssl4rec, ssl4rec.cli\n"
        "try:\n    ssl4rec.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "from ssl4rec.registry import PRESETS\n"
        "assert 'sasrec' in PRESETS.names() and 'torch' in sys.modules\n"  # a lookup loads the components
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "usage: ssl4rec" in res.stdout
