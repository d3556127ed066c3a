"""`ssl4rec check`: a suite is validated whole before anything trains (the cell plan).

A corpus of bad suites, one mistake each at every level of a suite (datasets, preprocessing,
splits, baselines, presets and their nested / dotted parameters, the cross, evaluation,
validation, published blocks, YAML syntax), each refused by `ssl4rec check` with exit code 2 and
a one-line message naming the key and the fix, quickly and without writing anything.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import yaml

from ssl4rec import cli

BASE = {
    "name": "check",
    "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 40, "n_interactions": 900}}],
    "splits": ["leave_one_out"],
    "models": ["pop"],
    "seeds": [0],
    "evaluation": {"ks": [10], "metrics": ["ndcg", "hr"]},
}


def _with(path: str, value) -> dict:
    """BASE with ``value`` set at a dotted ``path`` (list indices as integers)."""
    suite = copy.deepcopy(BASE)
    keys = path.split(".")
    node = suite
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return suite


def _model(spec) -> dict:
    return _with("models", ["pop", spec])


# (id, suite, words the message must contain: the key and a fix)
BAD = [
    ("top-level key", {**BASE, "modles": ["pop"]}, ["modles", "models"]),
    ("dataset name", _with("datasets.0.name", "synthetc"), ["synthetc", "synthetic"]),
    ("dataset param", _with("datasets.0.params", {"n_user": 60}), ["n_user", "n_users"]),
    ("preprocessing key", _with("datasets.0.preprocessing", {"k_cor": 5}), ["k_cor", "k_core"]),
    ("preprocessing value", _with("datasets.0.preprocessing", {"dedup": "sometimes"}), ["dedup", "sometimes"]),
    ("split name", _with("splits", ["leave_one_ot"]), ["leave_one_ot", "leave_one_out"]),
    ("split param", _with("splits", [{"name": "random", "params": {"ratio": [0.8, 0.1, 0.1]}}]), ["ratio", "ratios"]),
    ("baseline param", _model({"name": "bpr", "params": {"epocs": 3}}), ["epocs", "epochs"]),
    ("model name", _model("sasrc"), ["sasrc", "sasrec"]),
    ("preset param", _model({"name": "sasrec", "params": {"epocs": 3}}), ["epocs", "epochs"]),
    (
        "preset encoder block",
        _model({"name": "sasrec", "params": {"encoder": {"dropuot": 0.1}}}),
        ["dropuot", "dropout"],
    ),
    (
        "preset objectives block",
        _model({"name": "cl4srec", "params": {"objectives": {"contrastiv": {}}}}),
        ["contrastiv", "contrastive"],
    ),
    (
        "preset objective param",
        _model({"name": "cl4srec", "params": {"objectives": {"contrastive": {"temprature": 0.5}}}}),
        ["temprature", "temperature"],
    ),
    ("dotted key", _model({"name": "sasrec", "params": {"encoder.num_layer": 1}}), ["num_layer", "num_layers"]),
    (
        "dotted key form",
        _model({"name": "cl4srec", "params": {"objectives.contrastive": 0.5}}),
        ["objectives.contrastive", "objectives.name.param"],
    ),
    ("preset option value", _model({"name": "sasrec", "params": {"item_repr": "txt"}}), ["item_repr", "text"]),
    (
        "encoder constraint",
        _model({"name": "sasrec", "params": {"encoder": {"num_heads": 3}}}),
        ["num_heads", "embedding_size"],
    ),
    (
        "augmentation name",
        _model({"name": "cl4srec", "params": {"objectives.contrastive.augmentations": ["crp"]}}),
        ["crp", "crop"],
    ),
    (
        "augmentation option",
        _model({"name": "cl4srec", "params": {"objectives.contrastive.mask_value": "zero"}}),
        ["mask_value", "padding"],
    ),
    (
        "objective option",
        _model({"name": "duorec", "params": {"objectives.supervised_contrastive.positive": "same_item"}}),
        ["positive", "same_target"],
    ),
    (
        "ssl model without objectives",
        _model({"name": "ssl", "params": {"encoder": "gru"}}),
        ["objectives", "encoder"],
    ),
    (
        "ssl model objective param",
        _model(
            {
                "name": "ssl",
                "params": {
                    "encoder": "transformer",
                    "objectives": ["next_item", {"name": "contrastive", "params": {"temprature": 1.0}}],
                },
            }
        ),
        ["temprature", "temperature"],
    ),
    (
        "cross encoder",
        {**BASE, "cross": {"encoders": ["transfomer"], "objectives": [["next_item"]]}},
        ["transfomer", "transformer"],
    ),
    (
        "cross objective",
        {**BASE, "cross": {"encoders": ["gru"], "objectives": [["next_iten"]]}},
        ["next_iten", "next_item"],
    ),
    (
        "cross training param",
        {**BASE, "cross": {"encoders": ["gru"], "objectives": [["next_item"]], "params": {"bach_size": 8}}},
        ["bach_size", "batch_size"],
    ),
    ("evaluation key", _with("evaluation", {"kss": [10]}), ["kss", "ks"]),
    ("metric name", _with("evaluation", {"metrics": ["ndgc"]}), ["ndgc", "ndcg"]),
    ("candidates", _with("evaluation", {"candidates": "some"}), ["candidates", "sampled"]),
    ("valid metric", _with("evaluation", {"valid_metric": "ndcg10"}), ["valid_metric", "ndcg@10"]),
    ("validation key", {**BASE, "validation": {"patience_override": 3}}, ["patience_override", "max_users"]),
    ("validation value", {**BASE, "validation": {"max_users": 0}}, ["max_users", "positive"]),
    ("seeds", {**BASE, "seeds": ["a"]}, ["seeds", "integers"]),
    ("duplicate labels", _with("models", ["pop", {"name": "itemknn", "label": "pop"}]), ["duplicate", "label"]),
    (
        "duplicate dataset labels",
        {**BASE, "datasets": [BASE["datasets"][0], {"name": "synthetic", "params": {"n_users": 70}}]},
        ["duplicate dataset labels", "'label'"],
    ),
    ("epochs out of domain", _model({"name": "bpr", "params": {"epochs": -1}}), ["params.epochs", ">= 1"]),
    ("batch size zero", _model({"name": "sasrec", "params": {"batch_size": 0}}), ["params.batch_size", ">= 1"]),
    (
        "nested dropout out of domain",
        _model({"name": "sasrec", "params": {"encoder": {"dropout": 1.5}}}),
        ["params.encoder.dropout", "[0, 1)"],
    ),
    ("learning rate zero", _model({"name": "sasrec", "params": {"learning_rate": 0}}), ["learning_rate", "> 0"]),
    (
        "ratios not summing to 1",
        _with("splits", [{"name": "random", "params": {"ratios": [0.6, 0.3, 0.3]}}]),
        ["ratios", "sum to 1", "[0.8, 0.1, 0.1]"],
    ),
    ("evaluation cut-off zero", _with("evaluation", {"ks": [0, 10]}), ["suite.yaml", "ks", ">= 1"]),
    ("evaluation batch size", _with("evaluation", {"batch_size": 0}), ["batch_size", ">= 1"]),
    ("another framework's topk", _with("evaluation", {"topk": [10]}), ["'topk'", "Did you mean 'ks'"]),
    ("another framework's lr", _model({"name": "sasrec", "params": {"lr": 0.01}}), ["'lr'", "'learning_rate'"]),
    (
        "published label",
        {**BASE, "published": {"source": "x", "values": {"POP": {"ndcg@10": 0.1}}}},
        ["POP", "pop"],
    ),
    (
        "transfer source without text",
        _model({"name": "sasrec", "params": {"item_repr": "text", "transfer": {"source": "amazon-beauty", "mode": "zero_shot"}}}),
        ["amazon-beauty", "no item text", "sources with text"],
    ),
    (
        "transfer target without text",
        _with("datasets", [{"name": "amazon-beauty"}]) | {"models": [{"name": "sasrec", "params": {"item_repr": "text", "transfer": {"source": "synthetic", "mode": "finetune"}}}]},
        ["amazon-beauty", "has none"],
    ),
    (
        "transfer with a per-corpus text encoder",
        _model({"name": "sasrec", "params": {"item_repr": "text", "text_encoder": "tfidf", "transfer": {"source": "ml-100k", "mode": "finetune"}}}),
        ["tfidf", "hashing"],
    ),
    (
        "transfer mode",
        _model({"name": "sasrec", "params": {"item_repr": "text", "transfer": {"source": "ml-100k", "mode": "fewshot"}}}),
        ["fewshot", "zero_shot"],
    ),
    (
        "time on an encoder without it",
        _model({"name": "multvae", "params": {"encoder": {"time": "both"}}}),
        ["time"],
    ),
]


@pytest.mark.parametrize(("suite", "words"), [pytest.param(s, w, id=i) for i, s, w in BAD])
def test_bad_suite_is_refused_whole_before_anything_runs(suite, words, tmp_path, caplog):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    out = tmp_path / "results"
    with caplog.at_level(logging.ERROR, logger="ssl4rec"):
        rc = cli.main(["check", str(path), "--out", str(out)])
    assert rc == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0].strip(), errors
    for word in words:
        assert word in errors[0], (word, errors[0])
    assert not out.exists()  # nothing written, nothing trained
    # run refuses it the same way, before training anything
    caplog.clear()
    assert cli.main(["run", str(path), "--out", str(out)]) == 2
    assert not out.exists()


def test_corpus_is_large():
    assert len(BAD) >= 25


def test_yaml_syntax_error_names_the_file_and_line(tmp_path, caplog):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ndatasets: [synthetic\nsplits: [random]\n")
    with caplog.at_level(logging.ERROR, logger="ssl4rec"):
        assert cli.main(["check", str(path)]) == 2
    (message,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert str(path) in message and "line" in message


def test_check_prints_the_plan_with_records_and_na_cells(tmp_path, capsys):
    suite = {
        **BASE,
        "models": ["pop"],
        "cross": {"encoders": ["gru", "vae"], "objectives": [["next_item"]], "params": {"epochs": 1}},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    out = tmp_path / "results"
    assert cli.main(["check", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 cell(s)" in text
    assert "synthetic/leave_one_out/pop/seed0" in text and "pending" in text
    assert "vae+next_item/seed0  n/a: next_item needs a sequence encoder" in text
    assert not out.exists()
    assert cli.main(["run", str(path), "--out", str(out), "--models", "pop"]) == 0
    assert cli.main(["run", str(path), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "pop/seed0" in text and "1 done, 1 to run, 1 n/a" in text


def test_pretrain_finetune_without_an_auxiliary_objective_is_na(tmp_path, capsys):
    suite = {**BASE, "cross": {"encoders": ["gru"], "objectives": [["next_item"]], "schedule": "pretrain_finetune"}}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    assert cli.main(["check", str(path), "--out", str(tmp_path / "r")]) == 0
    assert "n/a: schedule 'pretrain_finetune' needs at least one self-supervised" in capsys.readouterr().out


def test_shipped_suites_check_clean(capsys):
    root = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(root.rglob("*.yaml")):
        if path.name.endswith(".best.yaml"):
            continue
        assert cli.main(["check", str(path), "--out", "/nonexistent-ssl4rec-results"]) == 0, path


def test_every_model_kind_has_one_builder_and_nothing_else_branches_on_kinds():
    import re

    from ssl4rec.registry import UnknownNameError
    from ssl4rec.running.builders import BUILDERS, ModelBuilder, builder_for, register_builder
    from ssl4rec.running.plan import ModelSpec

    assert set(BUILDERS) == {"baseline", "preset", "cross"}
    assert all(isinstance(b, ModelBuilder) for b in BUILDERS.values())
    with pytest.raises(ValueError, match="duplicate model kind"):
        register_builder("preset")(ModelBuilder)
    with pytest.raises(UnknownNameError, match="no builder for model kind 'graf'"):
        builder_for(ModelSpec(label="x", kind="graf", name="x"))
    # the runner, tuning and the suite parser dispatch through the builders only
    root = Path(__file__).resolve().parents[1] / "ssl4rec"
    checked = [p for p in root.rglob("*.py") if p.name != "builders.py"]
    assert len(checked) > 50
    for path in checked:
        text = path.read_text()
        assert not re.search(r"kind\s*(==|!=|in)\s*\(?\s*\"(baseline|preset|cross)\"", text), path


def test_tuned_parameters_use_the_one_dotted_grammar():
    from ssl4rec.running.builders import builder_for
    from ssl4rec.running.plan import parse_suite

    suite = parse_suite(
        {
            **BASE,
            "models": [
                {"name": "sasrec", "params": {"epochs": 1}},
                {"name": "ssl", "label": "X", "params": {"encoder": "gru", "objectives": ["next_item", "contrastive"]}},
            ],
        }
    )
    preset, cross = suite.models
    params = {"learning_rate": 0.01, "encoder.dropout": 0.1, "objectives.contrastive.temperature": 0.3}
    applied = builder_for(cross).apply(cross, params)
    assert applied.params["learning_rate"] == 0.01 and applied.encoder["params"]["dropout"] == 0.1
    assert [o["params"] for o in applied.objectives] == [{}, {"temperature": 0.3}]
    assert set(params) <= set(builder_for(cross).search_space(cross)) | {"encoder.dropout"}
    with pytest.raises(Exception, match="names an objective not in X"):
        builder_for(cross).apply(cross, {"objectives.masked_item.mask_prob": 0.3})
    model, _ = builder_for(preset).build(builder_for(preset).apply(preset, {"encoder.dropout": 0.1}), 0)
    assert model.encoder_params["dropout"] == 0.1
    assert builder_for(preset).dotted_defaults(preset)["encoder.num_layers"] == 2


def test_leaderboard_summary_does_not_count_na_rows_as_results(tmp_path):
    suite = {
        **BASE,
        "cross": {"encoders": ["gru", "vae"], "objectives": [["next_item"]], "params": {"epochs": 1, "max_len": 10}},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    out = tmp_path / "results"
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    index = (out / "leaderboards" / "synthetic" / "README.md").read_text()
    assert "| models with results | n/a | missing |" in index
    assert "| 2 of 2 | 1 | – |" in index  # pop and gru ran; vae + next_item is n/a, not a result


def test_negative_threads_are_refused_before_training(tmp_path, caplog):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    out = tmp_path / "results"
    with caplog.at_level(logging.ERROR, logger="ssl4rec"):
        assert cli.main(["run", str(path), "--out", str(out), "--threads", "-1"]) == 2
    assert "--threads must be a positive number" in caplog.text and not out.exists()


def test_full_and_sampled_records_of_one_model_live_side_by_side(tmp_path):
    """The protocol is part of a cell's identity: two protocols give two tables, and publishing
    with --supersede keeps both (neither is an older record of the other's cell)."""
    from ssl4rec.reporting.leaderboard import build_tables, publish
    from ssl4rec.reporting.records import ResultsStore
    from ssl4rec.running.plan import parse_suite
    from ssl4rec.running.runner import Runner

    out = tmp_path / "res"
    full = parse_suite(BASE)
    sampled = parse_suite({**BASE, "evaluation": {**BASE["evaluation"], "candidates": "sampled", "n_negatives": 20}})
    Runner(full, out=out).run()
    Runner(sampled, out=out).run()
    assert len(list(ResultsStore(out).iter_records())) == 2
    splits = sorted(t.split for t in build_tables(ResultsStore(out)))
    assert splits == ["leave_one_out", "leave_one_out [sampled-20-uniform]"]
    publish(out, tmp_path / "pub", supersede=True)
    assert len(list(ResultsStore(tmp_path / "pub").iter_records())) == 2


def test_tune_refuses_fewer_than_one_trial(tmp_path, caplog):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    with caplog.at_level(logging.ERROR, logger="ssl4rec"):
        assert cli.main(["tune", str(path), "--trials", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--trials must be a whole number >= 1" in caplog.text
    assert not (tmp_path / "o").exists()


def test_yaml_alias_bomb_and_oversized_files_are_refused_quickly(tmp_path, caplog):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")  # 9^9 values once expanded
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nname: bomb\n")
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n# " + "x" * 1_100_000 + "\n")
    anchors = tmp_path / "anchors.yaml"  # aliases used as intended are fine
    anchors.write_text(yaml.safe_dump(BASE) + "x-common: &common {epochs: 2}\n")
    for path, words in ((bomb, "through YAML aliases"), (big, "bytes; a suite is at most")):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="ssl4rec"):
            assert cli.main(["check", str(path), "--out", str(tmp_path / "o")]) == 2
        assert words in caplog.text and "Traceback" not in caplog.text
    from ssl4rec.running.plan import _check_expansion

    _check_expansion(yaml.compose(anchors.read_text(), Loader=yaml.SafeLoader), anchors)


def test_a_label_with_a_comma_can_be_selected(tmp_path, capsys):
    suite = {**BASE, "models": ["pop", {"name": "pop", "label": "pop (a, b)"}]}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    assert cli.main(["check", str(path), "--out", str(tmp_path / "r"), "--models", "pop (a, b)"]) == 0
    text = capsys.readouterr().out
    assert "pop (a, b)/seed0" in text and "1 cell(s)" in text


def test_a_record_of_an_older_preset_version_is_named_by_check_and_run(tmp_path, capsys, caplog):
    """A preset's version is not part of a cell's identity (the suite's text is unchanged when the preset's
    defaults change): check and run name a finished record made with another version of the preset whose
    resolved parameters differ from what the suite builds now (not one whose parameters are the same)."""
    from ssl4rec.reporting.records import ResultsStore

    suite = {**BASE, "models": [{"name": "sasrec", "params": {"epochs": 1, "max_len": 10}}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "res"
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["check", str(path), "--out", str(out)]) == 0
    assert "version" not in capsys.readouterr().out  # the same version: nothing to say
    store = ResultsStore(out)
    rec = next(store.iter_records())
    assert rec.model["component_versions"]["sasrec"] == "1"
    rec.model["component_versions"]["sasrec"] = "0"
    store.write(Path(rec.path).relative_to("records"), rec, store.per_user(rec))
    assert cli.main(["check", str(path), "--out", str(out)]) == 0
    # another version, but the parameters it resolved to are those the suite builds now: still the same model
    assert "version" not in capsys.readouterr().out
    rec = next(store.iter_records())
    rec.model["params"]["learning_rate"] = 0.5  # what the older defaults resolved to
    store.write(Path(rec.path).relative_to("records"), rec, store.per_user(rec))
    assert cli.main(["check", str(path), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "done: its record was made with preset 'sasrec' version 0; the suite now builds version 1" in said
    with caplog.at_level(logging.WARNING):
        assert cli.main(["run", str(path), "--out", str(out)]) == 0
    assert "preset 'sasrec' version 0" in caplog.text  # skipped as finished, but named


def test_check_shows_an_unfinished_cell_its_claim_curve_and_checkpoint(tmp_path, capsys):
    """An unfinished cell says what is known of it: the process that holds its claim (``running``), the
    epochs its checkpointer has done with the best validation value so far and the time the epochs left
    take at most (255 x 60 s), and the checkpoint it resumes from; a claim whose process is gone is not
    ``running``."""
    import json
    import socket
    import subprocess
    import time

    from ssl4rec.recommender import Checkpointer
    from ssl4rec.reporting.records import ResultsStore

    suite = {**BASE, "models": [{"name": "sasrec", "params": {"epochs": 1, "max_len": 10}}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "res"
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    store = ResultsStore(out)
    rec = next(store.iter_records())
    record = out / rec.path
    rel = record.relative_to(out / "records")
    record.unlink()
    record.with_suffix(".npz").unlink()
    capsys.readouterr()
    assert cli.main(["check", str(path), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "/seed0  pending\n" in said and "0 done, 1 to run, 0 n/a" in said  # nothing known of it

    ck = Checkpointer(record.with_suffix(""), every=5)
    curve = {"losses": [1.0] * 45, "valid": [[40, 0.0184], [42, 0.0193], [44, 0.0185]], "epoch_seconds": [60.0] * 45}
    ck.progress("sasrec", 300, curve)
    ck.save("sasrec", {"epoch": 45})
    assert cli.main(["check", str(path), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert (
        "/seed0  pending: 45 of 300 epochs (sasrec), best valid 0.0193 at epoch 42, at most ~4.2 h left at "
        "60 s/epoch; a checkpoint to resume from (run with --checkpoint-every)" in said
    )

    claim = out / "claims" / rel.with_suffix(".claim")
    claim.parent.mkdir(parents=True, exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        claim.write_text(json.dumps({"host": socket.gethostname(), "pid": sleeper.pid, "time": time.time()}))
        assert cli.main(["check", str(path), "--out", str(out)]) == 0
        said = capsys.readouterr().out
        assert f"/seed0  running: on {socket.gethostname()} (pid {sleeper.pid}); 45 of 300 epochs" in said
        assert "0 done, 1 to run (1 running now), 0 n/a" in said
    finally:
        sleeper.kill()
        sleeper.wait()
    assert cli.main(["check", str(path), "--out", str(out)]) == 0  # its process is gone: not running
    said = capsys.readouterr().out
    assert "/seed0  pending: 45 of 300 epochs" in said and "  running:" not in said and "running now" not in said


def test_time_left_of_a_progress_file():
    """The median of the last 10 epoch times x the epochs not run; nothing when unknown or done."""
    from ssl4rec.reporting.records import _time_left

    body = {"epochs": 100, "epochs_done": 90, "epoch_seconds": [500.0] * 5 + [30.0, 30.0, 31.0, 29.0, 30.0] * 2}
    assert _time_left(body) == ", at most ~5 min left at 30 s/epoch"
    assert _time_left({**body, "epochs": 400}) == ", at most ~2.6 h left at 30 s/epoch"
    assert _time_left({**body, "epochs_done": 100}) == ""
    assert _time_left({"epochs": 100, "epochs_done": 3}) == ""  # a progress file from before epoch times
