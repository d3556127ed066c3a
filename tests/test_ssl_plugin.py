"""Third-party objectives through the ``ssl4rec.plugins`` entry-point group.

The plugin under ``tests/plugin_pkg`` is the worked example of ``docs/adding_an_objective.md``
(the guide quotes its files verbatim; a test below keeps them equal). Instead of a slow
``pip install``, the tests lay out what an install leaves behind: the module and a
``*.dist-info`` folder with ``entry_points.txt``, on a temporary path put first on
``sys.path`` (undone after the test), where ``importlib.metadata`` finds it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from ssl4rec import registry
from ssl4rec.registry import OBJECTIVES
from ssl4rec.ssl import PRESET_SPECS, build_ssl_model, check_compatible
from ssl4rec.testing import tiny_split

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).resolve().parent / "plugin_pkg"
GUIDE = REPO / "docs" / "adding_an_objective.md"
MODULE = "ssl4rec_barlow_twins"


def install(site: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Lay out an installed distribution: top-level modules and a dist-info with entry points."""
    site.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[ssl4rec.plugins]\n{lines}")


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Plugin loading starts afresh and leaves no trace (registry state, modules, sys.path)."""
    monkeypatch.setattr(registry, "PLUGIN_ERRORS", {})
    monkeypatch.setattr(registry, "_PLUGINS_LOADED", False)
    before = set(OBJECTIVES.names())
    yield
    for name in set(OBJECTIVES.names()) - before:
        OBJECTIVES.remove(name)
    for mod in (MODULE, "ssl4rec_broken_plugin"):
        sys.modules.pop(mod, None)


def test_plugin_objective_registers_and_trains(tmp_path, monkeypatch, fresh_plugins):
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())
    entry_points = project["project"]["entry-points"]["ssl4rec.plugins"]
    assert entry_points == {"barlow_twins": MODULE}
    install(
        tmp_path / "site", project["project"]["name"], {MODULE: (PLUGIN / f"{MODULE}.py").read_text()}, entry_points
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    assert "barlow_twins" not in OBJECTIVES
    errors = registry.load_plugins(force=True)
    assert "barlow_twins" not in errors, errors
    assert "barlow_twins" in OBJECTIVES
    entry = OBJECTIVES.entry("barlow_twins")
    assert entry.paper and entry.summary.startswith("Make two dropout passes")
    assert entry.defaults() == {"objective_weight": 0.01, "off_diagonal": 0.005}

    assert check_compatible("transformer", ["next_item", "barlow_twins"]) is None
    assert "sequence" in check_compatible("vae", ["reconstruction", "barlow_twins"])
    assert "main objective" in check_compatible("gru", ["barlow_twins"])

    sasrec = PRESET_SPECS["sasrec"]
    model = build_ssl_model(
        {**sasrec["encoder"], "embedding_size": 16, "num_layers": 1},
        [*sasrec["objectives"], {"name": "barlow_twins", "off_diagonal": 0.01}],
        epochs=1,
        max_len=10,
        batch_size=16,
    )
    split = tiny_split()
    model.fit(split.train)
    parts = model.fit_info["objective_losses"][-1]
    assert set(parts) == {"next_item", "barlow_twins"}
    assert all(np.isfinite(v) for v in parts.values())


def test_broken_plugin_is_reported_not_fatal(tmp_path, monkeypatch, fresh_plugins):
    install(
        tmp_path / "site",
        "ssl4rec-broken",
        {"ssl4rec_broken_plugin": "raise ImportError('needs a package that is not installed')\n"},
        {"broken": "ssl4rec_broken_plugin"},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    errors = registry.load_plugins(force=True)
    assert "broken" in errors and "not installed" in errors["broken"]
    assert "next_item" in OBJECTIVES  # the built-ins are untouched


def _code_blocks(markdown: str, lang: str) -> list[str]:
    return [m.group(1) for m in re.finditer(rf"```{lang}\n(.*?)```", markdown, flags=re.S)]


def test_guide_quotes_the_tested_plugin():
    guide = GUIDE.read_text()
    assert (PLUGIN / f"{MODULE}.py").read_text() in _code_blocks(guide, "python")
    assert (PLUGIN / "pyproject.toml").read_text() in _code_blocks(guide, "toml")


def test_a_suite_naming_a_plugin_objective_checks_and_runs_through_the_cli(tmp_path, monkeypatch, fresh_plugins):
    """Plugins load before the suite is validated, in `check` and `run` alike."""
    import yaml

    from ssl4rec import cli

    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())
    install(
        tmp_path / "site",
        project["project"]["name"],
        {MODULE: (PLUGIN / f"{MODULE}.py").read_text()},
        project["project"]["entry-points"]["ssl4rec.plugins"],
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    suite = {
        "name": "plugin",
        "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 40, "n_interactions": 900}}],
        "splits": ["leave_one_out"],
        "models": [
            {
                "name": "ssl",
                "label": "SASRec+BT",
                "params": {
                    "encoder": {"name": "transformer", "params": {"embedding_size": 16, "num_layers": 1}},
                    "objectives": ["next_item", {"name": "barlow_twins", "params": {"off_diagonal": 0.01}}],
                    "epochs": 1,
                    "max_len": 10,
                },
            }
        ],
        "seeds": [0],
        "evaluation": {"ks": [10], "metrics": ["ndcg"]},
    }
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    out = tmp_path / "results"
    assert "barlow_twins" not in OBJECTIVES
    assert cli.main(["check", str(path), "--out", str(out)]) == 0
    assert "barlow_twins" in OBJECTIVES
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    assert list(out.rglob("seed0-*.json"))
