"""The bad-input corpus through the command line: data files, results folders, study journals, CLI
arguments and environment. (Bad suites: ``tests/test_check.py``'s ``BAD``.)

Every case runs one ``ssl4rec`` command as a user would and asserts: exit code 2, exactly one error
message that names the file (and line) or the key, and the words of the fix; no traceback anywhere;
the watched folder (``--out`` or the results folder) byte for byte as before; nothing created
outside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_datasets_parsers import (
    ML_CSV_RATINGS,
    RB_INTER,
    write,
    write_amazon2018,
    write_beauty,
    write_ml100k,
    write_ml_csv,
    write_recbole,
)

from ssl4rec import cli
from ssl4rec.datasets import download as ddownload
from ssl4rec.running.plan import parse_suite
from ssl4rec.running.runner import Runner


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def offline(url, dest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(ddownload, "fetch", offline)


@dataclass
class Case:
    """``setup(tmp) -> (argv, watched folder, words the message must hold)``; ``{tmp}`` in words is the tmp path."""

    id: str
    setup: Callable[[Path], tuple[list[str], Path, list[str]]]


def _suite(tmp: Path, dataset: dict | str, **over) -> Path:
    suite = {"name": "bad", "datasets": [dataset], "splits": ["leave_one_out"], "models": ["pop"], "seeds": [0]}
    suite.update(over)
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def _run_data(dataset: dict | str, writer: Callable[[Path], object], *words: str) -> Callable:
    """A ``run`` over data written by ``writer`` into ``tmp/data``; the message names ``words``."""

    def setup(tmp: Path):
        writer(tmp / "data")
        suite = _suite(tmp, dataset)
        return ["run", str(suite), "--data", str(tmp / "data"), "--out", str(tmp / "out")], tmp / "out", list(words)

    return setup


def _ml100k(u_data: str) -> Callable[[Path], object]:
    return lambda d: write_ml100k(d, u_data)


def _csv(ratings: str) -> Callable[[Path], object]:
    return lambda d: write_ml_csv(d, "ml-20m", ratings)


def _recbole(inter: str) -> Callable[[Path], object]:
    return lambda d: write_recbole(d, inter)


def _beauty(seq: str, attributes: str | None = None) -> Callable[[Path], object]:
    def w(d: Path):
        write_beauty(d, seq)
        if attributes is not None:
            write(d / "s3rec" / "Beauty_item2attributes.json", attributes)

    return w


REVIEW = {"overall": 5.0, "reviewerID": "A1", "asin": "B1", "unixReviewTime": 1529193600}
RB = {"name": "recbole", "params": {"dataset": "ml-100k"}}
AMZ = {"name": "amazon2018", "params": {"category": "Video_Games"}}

DATA_CASES = [
    Case("u.data short line", _run_data("ml-100k", _ml100k("196\t242\t3\t881250949\n186\t302\t3\n"), "u.data", "line 2", "4 tab-separated")),
    Case("u.data rating not a number", _run_data("ml-100k", _ml100k("196\t242\tfive\t881250949\n"), "u.data", "line 1", "'rating' is not a number")),
    Case("u.data user not an integer", _run_data("ml-100k", _ml100k("196\t242\t3\t1\nabc\t302\t3\t2\n"), "u.data", "line 2", "'user' is not an integer")),
    Case("u.data rating nan", _run_data("ml-100k", _ml100k("196\t242\tnan\t881250949\n"), "u.data", "line 1", "finite")),
    Case("u.data negative rating", _run_data("ml-100k", _ml100k("196\t242\t3\t1\n186\t302\t-3\t2\n"), "u.data", "line 2", "rating", "-3")),
    Case("u.data negative timestamp", _run_data("ml-100k", _ml100k("196\t242\t3\t1\n186\t302\t3\t-5\n"), "u.data", "line 2", "timestamp", "-5")),
    Case("u.data empty", _run_data("ml-100k", _ml100k(""), "u.data", "no interactions")),
    Case("ratings.csv header", _run_data("ml-20m", _csv("user,movie,rating,timestamp\n1,2,3.5,1\n"), "ratings.csv", "line 1", "header")),
    Case("ratings.csv short line", _run_data("ml-20m", _csv(ML_CSV_RATINGS + "1,29\n"), "ratings.csv", "line 6", "4 comma-separated")),
    Case("ratings.csv item not an integer", _run_data("ml-20m", _csv(ML_CSV_RATINGS + "1,x29,3.5,1\n"), "ratings.csv", "line 6", "'item' is not an integer")),
    Case("ratings.csv negative rating", _run_data("ml-20m", _csv(ML_CSV_RATINGS + "3,29,-0.5,1\n"), "ratings.csv", "line 6", "rating")),
    Case("ratings.csv negative timestamp", _run_data("ml-20m", _csv(ML_CSV_RATINGS + "3,29,4.0,-1\n"), "ratings.csv", "line 6", "timestamp")),
    Case("recbole header", _run_data(RB, _recbole("user_id:token\titem:tok\n1\t2\n"), "ml-100k.inter", "line 1", "name:type")),
    Case("recbole rating", _run_data(RB, _recbole("user_id:token\titem_id:token\trating:float\n196\t242\tbad\n"), "ml-100k.inter", "line 2", "'rating' is not a number")),
    Case("recbole missing field", _run_data(RB, _recbole("uid:token\titem_id:token\n1\t2\n"), "ml-100k.inter", "user_id", "user_field")),
    Case("recbole short line", _run_data(RB, _recbole(RB_INTER + "22\n"), "ml-100k.inter", "line 6")),
    Case("s3rec item not an integer", _run_data("amazon-beauty", _beauty("1 1 2 3\n2 2 x 3\n"), "Beauty.txt", "line 2", "not an integer")),
    Case("s3rec user twice", _run_data("amazon-beauty", _beauty("1 1 2 3\n2 2 3\n1 3 1\n"), "Beauty.txt", "line 3", "already has a sequence")),
    Case("s3rec empty user", _run_data("amazon-beauty", _beauty("1 1 2 3\n2\n"), "Beauty.txt", "line 2", "no items")),
    Case("s3rec attributes JSON", _run_data("amazon-beauty", _beauty("1 1 2\n", '{"1": [1, 2],\n "2": [3}'), "item2attributes.json", "line 2", "not valid JSON")),
    Case("s3rec attributes wrong type", _run_data("amazon-beauty", _beauty("1 1 2\n", '["not", "a", "mapping"]'), "item2attributes.json", "JSON object")),
    Case("amazon2018 broken JSON line", _run_data(AMZ, lambda d: write_amazon2018(d, json.dumps(REVIEW) + "\n{not json\n"), "Video_Games_5.json.gz", "line 2")),
    Case("amazon2018 missing field", _run_data(AMZ, lambda d: write_amazon2018(d, json.dumps(REVIEW) + "\n" + json.dumps({"asin": "B1"}) + "\n"), "Video_Games_5.json.gz", "line 2", "reviewerID")),
    Case("u.data not UTF-8 / binary", _run_data("ml-100k", lambda d: write_ml100k(d, "\x00\x01\x02\xff garbage\n"), "u.data", "line 1")),
]  # fmt: skip


# ---------------------------------------------------------------- results folders

SMALL = {
    "name": "res",
    "datasets": [{"name": "synthetic", "params": {"n_users": 50, "n_items": 30, "n_interactions": 600}}],
    "splits": ["leave_one_out"],
    "models": ["pop", "itemknn"],
    "seeds": [0],
}


@pytest.fixture(scope="module")
def results_template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("template") / "res"
    Runner(parse_suite(SMALL), out=out).run()
    return out


def _results(damage: Callable[[Path], Path], argv: Callable[[Path, Path], list[str]], *words: str) -> Callable:
    """A copy of the template results folder, one file damaged by ``damage(res) -> damaged file``."""

    def setup(tmp: Path):
        import shutil

        res = tmp / "res"
        shutil.copytree(TEMPLATE[0], res)
        bad = damage(res)
        return argv(tmp, res), res, [w.replace("{bad}", bad.name) for w in words]

    return setup


TEMPLATE: list[Path] = []


def _first(res: Path, pattern: str) -> Path:
    return sorted(res.glob(f"records/**/{pattern}"))[0]


def _truncate(res: Path) -> Path:
    p = _first(res, "*.json")
    p.write_bytes(p.read_bytes()[:100])
    return p


def _garbage(res: Path) -> Path:
    p = _first(res, "*.json")
    p.write_bytes(bytes(range(256)))
    return p


def _wrong_type(res: Path) -> Path:
    p = _first(res, "*.json")
    d = json.loads(p.read_text())
    d["metrics"] = [1, 2, 3]
    p.write_text(json.dumps(d))
    return p


def _npz_garbage(res: Path) -> Path:
    p = _first(res, "*.npz")
    p.write_bytes(b"PK\x03\x04 not a zip")
    return p


def _npz_shape(res: Path) -> Path:
    p = _first(res, "*.npz")
    arrays = dict(np.load(p))
    arrays = {k: v[:3] for k, v in arrays.items()}
    np.savez(p, **arrays)
    return p


def _edited(res: Path) -> Path:
    p = _first(res, "*.json")
    d = json.loads(p.read_text())
    d["metrics"]["ndcg@10"] = 0.99
    p.write_text(json.dumps(d))
    return p


def _duplicate_seed(res: Path) -> Path:
    p = _first(res, "*.json")
    twin = p.with_name(p.stem.split("-")[0] + "-0000000000.json")
    d = json.loads(p.read_text())
    d["per_user_file"] = None
    twin.write_text(json.dumps(d))
    return twin


def _lb(tmp: Path, res: Path) -> list[str]:
    return ["leaderboard", str(res), "--to", str(res / "leaderboards")]


def _publish(tmp: Path, res: Path) -> list[str]:
    return ["publish", str(res), "--to", str(tmp / "pub")]


def _export(tmp: Path, res: Path) -> list[str]:
    return ["export", str(res)]


RESULTS_CASES = [
    Case("leaderboard truncated record", _results(_truncate, _lb, "{bad}", "--skip-unreadable")),
    Case("leaderboard garbage record", _results(_garbage, _lb, "{bad}")),
    Case("leaderboard wrong-typed record", _results(_wrong_type, _lb, "{bad}", "metrics")),
    Case("leaderboard garbage npz", _results(_npz_garbage, _lb, "{bad}")),
    Case("leaderboard npz of the wrong shape", _results(_npz_shape, _lb, "{bad}")),
    Case("leaderboard duplicate seed", _results(_duplicate_seed, _lb, "{bad}", "seed 0")),
    Case("publish edited record", _results(_edited, _publish, "{bad}", "changed after", "metrics differ")),
    Case("publish truncated record", _results(_truncate, _publish, "{bad}")),
    Case("export garbage record", _results(_garbage, _export, "{bad}")),
    Case("export wrong-typed record", _results(_wrong_type, _export, "{bad}")),
]


# ---------------------------------------------------------------- study journals


def _journal(text: str | bytes, *words: str) -> Callable:
    def setup(tmp: Path):
        snap = tmp / "study.jsonl"
        snap.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["studies", "import", str(snap), "--out", str(tmp / "out")], tmp / "out", ["study.jsonl", *words]

    return setup


JOURNAL_CASES = [
    Case("journal not JSON", _journal('{"op_code": 0, "worker_id": "w", "study_name": "s"}\n{broken\n', "line 2")),
    Case("journal not a journal", _journal('{"hello": "world"}\n', "line 1", "op_code")),
    Case("journal binary", _journal(b"\x00\xff\xfe garbage\n", "line 1")),
    Case("journal empty", _journal("", "no studies")),
    Case("journal missing", lambda tmp: (["studies", "import", str(tmp / "nope.jsonl"), "--out", str(tmp / "out")], tmp / "out", ["nope.jsonl"])),
]  # fmt: skip


# ---------------------------------------------------------------- CLI arguments and environment


def _cli(argv: Callable[[Path], list[str]], *words: str, watch: str = "out") -> Callable:
    def setup(tmp: Path):
        _suite(tmp, {"name": "synthetic", "params": {"n_users": 40, "n_items": 30, "n_interactions": 400}})
        return argv(tmp), tmp / watch, list(words)

    return setup


def _out_file(tmp: Path) -> list[str]:
    (tmp / "out").write_text("a file")
    return ["run", str(tmp / "suite.yaml"), "--out", str(tmp / "out")]


def _out_through_file(tmp: Path) -> list[str]:
    (tmp / "out").write_text("a file")
    return ["run", str(tmp / "suite.yaml"), "--out", str(tmp / "out" / "sub")]


def _bomb(tmp: Path) -> list[str]:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}]")
    (tmp / "bomb.yaml").write_text("\n".join(lines) + "\n")
    return ["run", str(tmp / "bomb.yaml"), "--out", str(tmp / "out")]


def _non_utf8(tmp: Path) -> list[str]:
    (tmp / "latin.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    return ["check", str(tmp / "latin.yaml"), "--out", str(tmp / "out")]


CLI_CASES = [
    Case("threads negative", _cli(lambda t: ["run", str(t / "suite.yaml"), "--out", str(t / "out"), "--threads", "-1"], "--threads", "positive")),
    Case("threads not a number", _cli(lambda t: ["run", str(t / "suite.yaml"), "--out", str(t / "out"), "--threads", "two"], "--threads", "invalid int")),
    Case("trials zero", _cli(lambda t: ["tune", str(t / "suite.yaml"), "--out", str(t / "out"), "--trials", "0"], "--trials", ">= 1")),
    Case("save-rankings negative", _cli(lambda t: ["run", str(t / "suite.yaml"), "--out", str(t / "out"), "--save-rankings", "-2"], "--save-rankings", ">= 1")),
    Case("checkpoint-every negative", _cli(lambda t: ["run", str(t / "suite.yaml"), "--out", str(t / "out"), "--checkpoint-every", "-1"], "--checkpoint-every", ">= 1")),
    Case("seeds not integers", _cli(lambda t: ["run", str(t / "suite.yaml"), "--out", str(t / "out"), "--seeds", "one,two"], "--seeds", "integers")),
    Case("models unknown label", _cli(lambda t: ["run", str(t / "suite.yaml"), "--out", str(t / "out"), "--models", "popp"], "popp", "pop")),
    Case("out is a file", _cli(_out_file, "--out", "is a file")),
    Case("out under a file", _cli(_out_through_file, "--out", "is a file")),
    Case("suite missing", _cli(lambda t: ["run", str(t / "nope.yaml"), "--out", str(t / "out")], "nope.yaml")),
    Case("suite alias bomb", _cli(_bomb, "bomb.yaml", "alias")),
    Case("suite not UTF-8", _cli(_non_utf8, "latin.yaml", "UTF-8")),
    Case("unknown command option", _cli(lambda t: ["run", str(t / "suite.yaml"), "--outt", str(t / "out")], "--outt")),
    Case("show unknown preset", _cli(lambda t: ["show", "preset", "sasrek"], "sasrek", "sasrec")),
    Case("tune storage unreachable", _cli(lambda t: ["tune", str(t / "suite.yaml"), "--out", str(t / "out"), "--trials", "2", "--storage", "postgresql://u:pw@127.0.0.1:9/db"], "u:***@127.0.0.1:9", "cannot open")),
    Case("tune storage driver missing", _cli(lambda t: ["tune", str(t / "suite.yaml"), "--out", str(t / "out"), "--trials", "2", "--storage", "postgresql+psycopg2://u:pw@127.0.0.1:9/db"], "u:***@127.0.0.1:9")),
    Case("tune storage not a URL", _cli(lambda t: ["tune", str(t / "suite.yaml"), "--out", str(t / "out"), "--trials", "2", "--storage", "nosuchdb://x"], "nosuchdb", "database URL")),
    Case("device unknown", _cli(lambda t: ["run", str(t / "suite.yaml"), "--out", str(t / "out"), "--device", "tpu"], "--device", "cuda:N")),
    Case("precision unknown", _cli(lambda t: ["run", str(t / "suite.yaml"), "--out", str(t / "out"), "--precision", "fp8"], "--precision", "fp8")),
    Case("data info param without value", _cli(lambda t: ["data", "info", "recbole", "--param", "dataset"], "--param", "KEY=VALUE")),
    Case("data info unknown param", _cli(lambda t: ["data", "info", "recbole", "--param", "datset=x"], "datset", "dataset")),
    Case("data info unknown dataset", _cli(lambda t: ["data", "info", "ml-100", "--data", str(t / "data")], "ml-100", "ml-100k")),
]  # fmt: skip

CASES = DATA_CASES + RESULTS_CASES + JOURNAL_CASES + CLI_CASES


def _snapshot(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir" for p in sorted(folder.rglob("*"))} | {".": "file" if folder.is_file() else "dir"}  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_is_refused_in_one_line(case, tmp_path, caplog, capsys, results_template, monkeypatch):
    TEMPLATE[:] = [results_template]
    monkeypatch.chdir(tmp_path)  # a relative default (results/) would land here: it must not appear either
    argv, watched, words = case.setup(tmp_path)
    before, around = _snapshot(watched), sorted(p.name for p in tmp_path.iterdir())
    with caplog.at_level(logging.WARNING, logger="ssl4rec"):
        try:
            rc = cli.main(argv)
        except SystemExit as exc:  # argparse
            rc = exc.code
    captured = capsys.readouterr()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    if not errors and captured.err.strip():
        errors = [line for line in captured.err.strip().splitlines() if "error" in line]
    text = " ".join(errors)
    assert rc == 2, (rc, errors, captured.err[-2000:])
    assert len(errors) == 1, errors
    assert "Traceback" not in captured.err + captured.out + text and ":pw@" not in text  # passwords hidden
    assert not any(r.exc_info for r in caplog.records)
    for w in words:
        assert w in text, (w, text)
    assert _snapshot(watched) == before  # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == around  # nothing outside it


def test_corpus_is_large():
    from test_check import BAD

    assert len(CASES) + len(BAD) >= 60, (len(CASES), len(BAD))


def test_debug_shows_the_traceback(tmp_path, caplog):
    (tmp_path / "out").write_text("a file")
    suite = _suite(tmp_path, "synthetic")
    with caplog.at_level(logging.ERROR, logger="ssl4rec"):
        assert cli.main(["--debug", "run", str(suite), "--out", str(tmp_path / "out")]) == 2
    assert any(r.exc_info for r in caplog.records)


def test_data_info_takes_parameters(tmp_path, capsys):
    write_recbole(tmp_path, RB_INTER)
    assert cli.main(["data", "info", "recbole", "--param", "dataset=ml-100k", "--data", str(tmp_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "recbole[dataset=ml-100k]" and info["counts"]["interactions"] == 4
