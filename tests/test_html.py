"""The published HTML leaderboard, rendered in a real headless browser."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ssl4rec.reporting.html import _sparsity_curves
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
    out = tmp_path_factory.mktemp("res")
    Runner(parse_suite(SUITE), out=out).run()
    write_leaderboards(out)
    return out / "leaderboards" / "synthetic" / "index.html"


def test_index_is_self_contained(page):
    text = page.read_text()
    assert text.count("<table>") == 4 + 1  # a table per split, and the provenance footer's
    assert "src='http" not in text and 'src="http' not in text and "<script" not in text
    # per split a bar chart; cold_items also cold vs warm targets of its own test set; the sparsity curve
    assert text.count("<svg") == 4 + 1 + 1
    assert "synthetic: NDCG@10" not in text and "random: NDCG@10" in text
    assert "cold_items: NDCG@10, cold vs warm targets" in text and "Like with like" in text
    assert "NDCG@10 vs p (sparsity)" in text and "fraction of training interactions kept (p)" in text
    assert "cold-start vs warm" not in text  # no chart across splits with different test sets


def test_page_has_provenance_and_working_record_links(page):
    text = page.read_text()
    records = sorted(page.parents[2].glob("records/**/*.json"))
    hrefs = re.findall(r'<a href="([^"#]+)">', text)
    assert len(hrefs) == len(records) and all((page.parent / h).resolve() in records for h in hrefs)
    rec = json.loads(records[0].read_text())
    head, plus, rest = rec["git_commit"].partition("+")
    assert f"<code>{head[:12]}{plus}{rest}</code> ({len(records)} records)" in text
    assert f"torch {rec['versions']['torch']}" in text
    assert rec["dataset"]["checksum"][:16] in text


def test_learning_curves_come_from_the_records(tmp_path):
    suite = {**SUITE, "splits": ["leave_one_out"], "models": ["pop", {"name": "bpr", "params": {"epochs": 4, "eval_every": 1}}], "seeds": [0, 1]}
    out = tmp_path / "res"
    Runner(parse_suite(suite), out=out).run()
    write_leaderboards(out)
    text = (out / "leaderboards" / "synthetic" / "index.html").read_text()
    assert text.count("<polyline") == 1 and "leave_one_out: validation NDCG@10 per epoch" in text  # bpr only: pop has no epochs
    recs = [json.loads(p.read_text()) for p in out.glob("records/**/bpr/*.json")]
    assert len(recs) == 2 and all(len(r["fit_info"]["valid"]) == 4 for r in recs)
    # epochs are counted from 1, as the progress bar does: the 4th of 4 epochs is epoch 4
    assert all([e for e, _ in r["fit_info"]["valid"]] == [1, 2, 3, 4] and r["fit_info"]["epochs_from"] == 1 for r in recs)
    assert all(1 <= r["fit_info"]["best_epoch"] <= 4 for r in recs)
    # the plotted points are the means over seeds: the top of the curve is the best mean
    assert "epoch" in text


def test_tables_show_no_spread_for_one_seed_and_right_align_numbers(page):
    text = page.read_text()
    bodies = re.findall(r"<tbody>(.*?)</tbody>", text, re.S)
    assert len(bodies) == 4 and all(" ± " not in b for b in bodies)  # one seed: no ±
    assert '<td class="num' in text and "position:sticky" in text and "overflow:auto" in text


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
    assert dom.count("<table>") == 5 and dom.count("<svg") == 6 and "pop" in dom and "content" in dom
    # images decode in the browser: a script in the page would be needed to read naturalWidth, so
    # render a screenshot and check it is a non-trivial PNG instead
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()], capture_output=True, timeout=120, check=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_svg_charts_escape_break_and_mark_missing():
    from ssl4rec.reporting.svg import _ticks, bar_chart, grouped_bars, line_chart

    svg = bar_chart([("<b>x</b> †", 0.3, 0.02, True), ("y", 0.1, None, False), ("z", math.nan, None, False)], "t", "NDCG@10")
    assert "<b>x</b>" not in svg and "&lt;b&gt;x&lt;/b&gt; †" in svg
    assert svg.count("<rect") == 2 and "no value" in svg  # NaN: no bar
    assert svg.count("stroke='#222'") == 3  # one whisker (line + two caps) for the only error given
    lines = line_chart({"a": [(1, 0.1), (2, math.nan), (3, 0.2), (4, 0.3)], "b": [(1, 0.05), (2, 0.06)]}, "t", "epoch", "v")
    # a breaks at the NaN: a lone point, then a line; b one line
    assert lines.count("<polyline") == 2 and lines.count("<circle") == 1
    assert line_chart({"a": [(1, math.nan)]}, "t", "x", "y") == ""
    bars = grouped_bars(["cold", "warm"], ["m1", "m2"], {"cold": {"m1": 0.1}, "warm": {"m1": 0.2, "m2": 0.3}}, "t", "v")
    assert bars.count("<rect") == 2 + 3 and bars.count(">×</text>") == 1  # legend swatches + bars; m2 has no cold value
    assert _ticks(0, 94) == [0, 20, 40, 60, 80] and _ticks(1, 44) == [10, 20, 30, 40]


def test_svg_charts_make_room_for_long_labels():
    import re

    from ssl4rec.reporting.svg import CHAR_W, bar_chart, grouped_bars, line_chart

    long = "SASRec (text) fine-tuned from ml-latest-small †"  # a transfer row's label: 47 characters
    need = CHAR_W * len(long)

    def box(svg: str) -> tuple[float, float]:
        w, h = re.search(r"viewBox='0 0 ([\d.]+) ([\d.]+)'", svg).groups()
        return float(w), float(h)

    bars = bar_chart([(long, 0.1, None, True), ("pop", 0.05, None, False)], "t", "NDCG@10")
    x = float(
        re.search(r"<text x='([\d.]+)' y='\d+' text-anchor='end'>" + re.escape(long), bars).group(1)
    )
    assert x - need >= 0  # right-aligned at the bars: its start stays inside the chart
    legend = line_chart({long: [(1, 0.1), (2, 0.2)], "pop": [(1, 0.05), (2, 0.06)]}, "t", "epoch", "v")
    lx = float(re.search(r"<text x='([\d.]+)' y='[\d.]+'>" + re.escape(long), legend).group(1))
    assert lx + need <= box(legend)[0]
    grouped = grouped_bars(
        ["cold", "warm"], [long, "pop"], {"cold": {long: 0.1, "pop": 0.0}, "warm": {long: 0.2}}, "t", "v"
    )
    w, h = box(grouped)
    cx, cy = (
        float(v)
        for v in re.search(
            r"translate\(([\d.]+) ([\d.]+)\) rotate\(-30\)' text-anchor='end'>" + re.escape(long), grouped
        ).groups()
    )
    assert cx - 0.87 * need >= 0 and cy + 0.5 * need <= h  # the rotated label ends inside, left and below
