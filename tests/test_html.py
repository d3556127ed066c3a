"""The published HTML leaderboard, rendered in a real headless browser."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest

from ssl4rec.reporting.html import _cold_vs_warm, _sparsity_curves
from ssl4rec.reporting.leaderboard import write_leaderboards
from ssl4rec.reporting.tables import Row, Table
from ssl4rec.running.plan import parse_suite
from ssl4rec.running.runner import Runner

SUITE = {
    "name": "htmltiny",
    "datasets": [{"name": "synthetic", "params": {"n_users": 80, "n_items": 50, "n_interactions": 1500}}],
    "splits": [{"name": "sparsity", "grid": {"p": [0.5, 1.0]}}, {"name": "cold_items", "params": {"warm_test_ratio": 0.1}}, "random"],
    "models": ["pop", "content"],
    "seeds": [0],
}


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("res")
    Runner(parse_suite(SUITE), out=out).run()
    write_leaderboards(out)
    return out / "leaderboards" / "synthetic" / "index.html"


def test_index_is_self_contained(page):
    text = page.read_text()
    assert text.count("<table>") == 4
    # sparsity curve, cold-start split vs the random split, cold_items' cold vs warm targets
    assert text.count("data:image/png;base64,") == 3
    assert "alt='cold-start vs warm'" in text and "alt='cold_items: cold vs warm'" in text
    assert "src='http" not in text and 'src="http' not in text


def test_cold_start_splits_are_compared_with_the_random_split():
    def table(split: str, values: dict[str, float], label: str | None = None) -> Table:
        rows = [Row(model=m, status="ok", n_seeds=1, mean={"ndcg@10": v}) for m, v in values.items()]
        return Table("d", label or split, {"split": split}, ["ndcg@10"], rows, "ndcg@10")

    tables = [
        table("leave_one_out", {"pop": 0.5}),
        table("cold_users", {"pop": 0.1, "bpr": 0.2}),
        table("random", {"pop": 0.3, "bpr": 0.4}),
        table("cold_items", {"content": 0.05}),
        table("sparsity", {"pop": 0.9}, label="sparsity-p0.5"),
    ]
    groups, models, values = _cold_vs_warm(tables, "ndcg@10")
    assert groups == ["cold users (cold_users)", "cold items (cold_items)", "warm (random split)"]
    assert models == ["pop", "bpr", "content"]
    assert values["warm (random split)"] == {"pop": 0.3, "bpr": 0.4}
    assert values["cold items (cold_items)"] == {"content": 0.05}
    # without a random split the first plain split is the warm reference; sparsity levels never are
    groups, _, values = _cold_vs_warm([tables[4], tables[1], tables[0]], "ndcg@10")
    assert groups[-1] == "warm (leave_one_out split)" and values[groups[-1]] == {"pop": 0.5}
    assert _cold_vs_warm([tables[0], tables[2]], "ndcg@10") is None


def test_sparsity_curves_break_where_a_level_has_no_record():
    def table(label: str, values: dict[str, float]) -> Table:
        rows = [Row(model=m, status="ok", n_seeds=1, mean={"ndcg@10": v}) for m, v in values.items()]
        name, _, p = label.partition("-p")
        return Table("d", label, {"split": name, "split_params": {"p": float(p)} if p else {}}, ["ndcg@10"], rows, "ndcg@10")

    tables = [table("sparsity-p1.0", {"pop": 0.3, "bpr": 0.4}), table("random", {"pop": 0.5}), table("sparsity-p0.2", {"pop": 0.1, "bpr": 0.2}),
              table("sparsity-p0.5", {"pop": 0.2})]
    levels, curves = _sparsity_curves(tables, "ndcg@10")
    assert levels == [0.2, 0.5, 1.0] and curves["pop"] == [0.1, 0.2, 0.3]
    assert curves["bpr"][0] == 0.2 and math.isnan(curves["bpr"][1]) and curves["bpr"][2] == 0.4
    assert _sparsity_curves(tables[:2], "ndcg@10") is None


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.mark.browser
def test_renders_in_headless_chromium(page, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    assert dom.count("<table>") == 4 and "pop" in dom and "content" in dom
    # images decode in the browser: a script in the page would be needed to read naturalWidth, so
    # render a screenshot and check it is a non-trivial PNG instead
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()], capture_output=True, timeout=120, check=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
