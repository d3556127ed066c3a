"""Evaluate a released Beauty checkpoint (ICLRec's or CoSeRec's) with ssl4rec's evaluator: a check of our
data and protocol, and what the checkpoint's padding outputs say about how it was trained.

Usage::

    python benchmarks/released_checkpoint.py --checkpoint ICLRec-Beauty-1.pt [--code iclrec] [--readme]
    python benchmarks/released_checkpoint.py --checkpoint CoSeRec-Beauty-0.pt --code coserec [--readme]
    python benchmarks/released_checkpoint.py --checkpoint ICLRec-Toys_and_Games-1.pt --dataset toys [--readme]

``--dataset sports|toys|yelp`` (ICLRec's checkpoints): the same check on another dataset of the family, on its
reproduction suite's split (``configs/reproduce/iclrec_<dataset>.yaml``; the data files under the data root),
against the figures ICLRec's README gives for that checkpoint.

``--code iclrec``: ``src/output/ICLRec-Beauty-1.pt`` of salesforce/ICLRec at commit
2890e6c3ff6a22c6699fc19cb863b66786c1cde4 (3,315,874 bytes); its README gives, for ``main.py --do_eval``,
HR@5 0.0500, NDCG@5 0.0326, HR@10 0.0744, NDCG@10 0.0403, HR@20 0.1058, NDCG@20 0.0483.
``--code coserec``: ``src/output/CoSeRec-Beauty-0.pt`` of YChen1993/CoSeRec at commit 692cb41 (3,519,593
bytes; a two-layer model, as the code's defaults). CoSeRec's README gives figures for Sports only; the
published Beauty row compared is the one of ICLRec's Table 2 (HR@5 0.0504, HR@20 0.1034, NDCG@5 0.0339,
NDCG@20 0.0487), the reproduction report's target.

Its weights (a SASRec-style transformer of the S3-Rec code family: item and position tables, query / key /
value / output projections, GELU feed-forward, post-LN, tied item table for scoring) are copied into
ssl4rec's ``transformer`` encoder (the three projections joined into one ``qkv`` matrix; item rows by raw
id, which is ssl4rec's row for the same item) and scored by ``evaluate`` on the ``iclrec_beauty`` suite's
dataset and leave-one-out split: full ranking, training history masked. Equal figures mean that our
Beauty sequences, our split and our metrics are the ones behind the published row, so the distance
between that row and ours comes from training alone. The code's own evaluation differs in two details
that this script also measures (``--their-masking``): it sets the masked history items' scores to 0
rather than removing them (an item with a negative score can then rank below history items), and the
padding row and the mask token are candidates.

The weights are a published artefact read as data (``torch.load(weights_only=True)``); nothing of the
authors' code is run or copied.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import _report  # noqa: E402, F401, I001  (imported first: stamps the commit the run starts from)

import ssl4rec.ssl  # noqa: E402, F401  (registers the presets)
from ssl4rec.evaluation.evaluator import Protocol, evaluate  # noqa: E402
from ssl4rec.registry import PRESETS, ConfigError  # noqa: E402

METRICS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "hr@20", "ndcg@20")
#: the datasets a checkpoint can be scored on: the reproduction suite whose dataset and split it uses, and the
#: file stem the authors' code names its data and checkpoints by
DATASETS = {
    "beauty": ("iclrec_beauty.yaml", "Beauty"),
    "sports": ("iclrec_sports.yaml", "Sports_and_Outdoors"),
    "toys": ("iclrec_toys.yaml", "Toys_and_Games"),
    "yelp": ("iclrec_yelp.yaml", "Yelp"),
}
#: per ``--code``: the checkpoint's name pattern, the published row per dataset (metric -> value; a metric it
#: lacks is not compared), where that row comes from, the preset whose network is filled, the default suite
#: row trained on from the checkpoint (Beauty), and the README section
CODES = {
    "iclrec": {
        "file": "ICLRec-{stem}-1.pt",
        "origin": "src/output/ICLRec-{stem}-1.pt of salesforce/ICLRec",
        "published": {  # its README's --do_eval figures (equal to the ICLRec row of its Table 2)
            "beauty": {
                "hr@5": 0.0500,
                "ndcg@5": 0.0326,
                "hr@10": 0.0744,
                "ndcg@10": 0.0403,
                "hr@20": 0.1058,
                "ndcg@20": 0.0483,
            },
            "sports": {
                "hr@5": 0.0290,
                "ndcg@5": 0.0191,
                "hr@10": 0.0437,
                "ndcg@10": 0.0238,
                "hr@20": 0.0646,
                "ndcg@20": 0.0291,
            },
            "toys": {
                "hr@5": 0.0598,
                "ndcg@5": 0.0404,
                "hr@10": 0.0834,
                "ndcg@10": 0.0480,
                "hr@20": 0.1138,
                "ndcg@20": 0.0557,
            },
            "yelp": {
                "hr@5": 0.0240,
                "ndcg@5": 0.0153,
                "hr@10": 0.0409,
                "ndcg@10": 0.0207,
                "hr@20": 0.0659,
                "ndcg@20": 0.0270,
            },
        },
        "source": "ICLRec README (published)",
        "preset": "iclrec",
        "row": "ICLRec",
        "section": ("released_checkpoint", "ICLRec's released Beauty checkpoint under ssl4rec's evaluator"),
    },
    "coserec": {
        "file": "CoSeRec-{stem}-0.pt",
        "origin": "src/output/CoSeRec-{stem}-0.pt of YChen1993/CoSeRec",
        "published": {"beauty": {"hr@5": 0.0504, "ndcg@5": 0.0339, "hr@20": 0.1034, "ndcg@20": 0.0487}},
        "source": "ICLRec's Table 2, CoSeRec row (published)",
        "preset": "coserec",
        "row": "CoSeRec",
        "section": ("released_checkpoint coserec", "CoSeRec's released Beauty checkpoint under ssl4rec's evaluator"),
    },
}
SUITES = Path(__file__).resolve().parents[1] / "configs" / "reproduce"


def convert(ckpt: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """The ``SASRecModel`` state of ICLRec's and CoSeRec's code (the names of their ``models.py``) ->
    ssl4rec ``transformer`` names."""
    out = {
        "item_embedding.table.weight": ckpt["item_embeddings.weight"],
        "position.weight": ckpt["position_embeddings.weight"],
        "norm.weight": ckpt["LayerNorm.weight"],
        "norm.bias": ckpt["LayerNorm.bias"],
    }
    for i in range(layers):
        p = f"item_encoder.layer.{i}."
        a, f = p + "attention.", p + "intermediate."
        b = f"blocks.{i}."
        out[b + "qkv.weight"] = torch.cat([ckpt[a + n + ".weight"] for n in ("query", "key", "value")])
        out[b + "qkv.bias"] = torch.cat([ckpt[a + n + ".bias"] for n in ("query", "key", "value")])
        for ours, theirs in (
            ("out", a + "dense"),
            ("norm1", a + "LayerNorm"),
            ("ff1", f + "dense_1"),
            ("ff2", f + "dense_2"),
            ("norm2", f + "LayerNorm"),
        ):
            out[b + ours + ".weight"] = ckpt[theirs + ".weight"]
            out[b + ours + ".bias"] = ckpt[theirs + ".bias"]
    return out


def their_masking(model: object, split: object, ks: tuple[int, ...]) -> dict[str, float]:
    """HR / NDCG @ ks as the code's ``--do_eval`` computes them: every row of the item table a candidate
    (padding and mask token included), history items' scores set to 0 (not removed), one target per user."""
    enc = model.net.encoder  # type: ignore[attr-defined]
    history = split.history("test")  # type: ignore[attr-defined]
    test = split.test  # type: ignore[attr-defined]
    users = test["user"].to_numpy()
    targets = torch.as_tensor(test["item"].to_numpy() + 1)  # table rows
    table = enc.item_embedding.table.weight
    rows_of = history.csr  # users x items, the history ICLRec's test rating matrix holds
    hits = torch.zeros(len(ks), dtype=torch.float64)
    gains = torch.zeros(len(ks), dtype=torch.float64)
    kk = torch.tensor(ks)
    with torch.no_grad():
        for start in range(0, len(users), 1024):
            u = users[start : start + 1024]
            scores = enc.represent(history.sequences(u, enc.max_len)) @ table.T
            sub = rows_of[u].tocoo()
            scores[torch.as_tensor(sub.row, dtype=torch.long), torch.as_tensor(sub.col + 1, dtype=torch.long)] = 0.0
            top = scores.topk(max(ks), dim=1).indices
            found = top == targets[start : start + 1024, None]
            rank = torch.where(found.any(1), found.float().argmax(1), torch.full((len(u),), max(ks)))
            inside = rank[:, None] < kk[None, :]
            hits += inside.sum(0)
            gains += (inside / torch.log2(rank[:, None].double() + 2)).sum(0)
    return {f"{m}@{k}": float(v[i]) / len(users) for m, v in (("hr", hits), ("ndcg", gains)) for i, k in enumerate(ks)}


def padding_stats(enc: torch.nn.Module, train: object, n: int = 2000) -> dict[str, float]:
    """How much the checkpoint's padding outputs (computed as the code computes them) carry: over the
    first ``n`` users' training windows (eval mode), the spread of the padding outputs across rows over
    their norm, their distance to the position-only outputs of an all-padding window over its norm,
    and the padding positions' share of a flattened window's squared norm."""
    import numpy as np

    users = np.arange(min(n, train.n_users))  # type: ignore[attr-defined]
    seq = train.sequences(users, enc.max_len)  # type: ignore[attr-defined]
    with torch.no_grad():
        out = enc.window_outputs(seq)
        pad = ~(seq != 0)
        p = out[pad]
        position_only = enc.padding_outputs()[None].expand_as(out)[pad]
        return {
            "mean length": float((~pad).sum(1).float().mean()),
            "spread across rows / norm": float((p - p.mean(0)).norm(dim=1).mean() / p.norm(dim=1).mean()),
            "distance to position-only / norm": float(
                (p - position_only).norm(dim=1).mean() / position_only.norm(dim=1).mean()
            ),
            "padding share of |flattened window|^2": float(out[pad].pow(2).sum() / out.pow(2).sum()),
        }


def continued(model: object, state: dict, split: object, suite: object, label: str, epochs: int) -> list[str]:
    """Train the suite row ``label`` for ``epochs`` epochs starting from the checkpoint's weights (the
    row's own recipe and seed 0); per epoch: the objectives' mean losses and valid / test NDCG@20."""
    from ssl4rec.evaluation.evaluator import RankingValidator
    from ssl4rec.running.runner import build_model

    spec = next((m for m in suite.models if m.label == label), None)  # type: ignore[attr-defined]
    if spec is None:
        raise SystemExit(f"--continue-row {label!r}: no such model label in suite {suite.name}")
    fresh, _ = build_model(spec, 0)
    fresh.device = torch.device("cpu")
    fresh.config.epochs, fresh.config.eval_every, fresh.config.patience = epochs, 1, epochs + 1
    fresh._init_state = {k: v for k, v in state.items() if k.startswith("encoder.")}  # noqa: SLF001
    prot = Protocol(ks=(20,), metrics=("ndcg",), valid_metric="ndcg@20")
    tests: list[float] = []
    validator = RankingValidator(
        split,  # type: ignore[arg-type]
        prot,
        callbacks=[
            lambda e, v, logs: tests.append(
                float(evaluate(fresh, split, "test", prot, progress=False).metrics["ndcg@20"])
            )
        ],
    )
    before_valid = validator.evaluate(model)
    before_test = float(evaluate(model, split, "test", prot, progress=False).metrics["ndcg@20"])
    fresh.fit(split.train, validator)  # type: ignore[attr-defined]
    names = list(fresh.fit_info["objective_losses"][0])
    lines = [
        f"Continued from the checkpoint with the suite row `{label}` (its recipe, seed 0, train mode, {epochs} epochs):",
        "",
        "| epoch | " + " | ".join(f"{n} loss" for n in names) + " | valid NDCG@20 | test NDCG@20 |",
        "|---:|" + "---:|" * (len(names) + 2),
        "| 0 (checkpoint) | " + " | ".join("" for _ in names) + f" | {before_valid:.4f} | {before_test:.4f} |",
    ]
    for e, (losses, (_, v), t) in enumerate(
        zip(fresh.fit_info["objective_losses"], fresh.fit_info["valid"], tests, strict=False), start=1
    ):
        lines.append(f"| {e} | " + " | ".join(f"{losses[n]:.3f}" for n in names) + f" | {v:.4f} | {t:.4f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="the released file (see --code)")
    ap.add_argument(
        "--code",
        choices=sorted(CODES),
        default="iclrec",
        help="whose checkpoint: ICLRec-Beauty-1.pt or CoSeRec-Beauty-0.pt",
    )
    ap.add_argument(
        "--dataset",
        choices=list(DATASETS),
        default="beauty",
        help="the S3-Rec/ICLRec dataset the checkpoint was trained on (its reproduction suite's split; default beauty)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--their-masking", action="store_true", help="also score as the code's evaluation does")
    ap.add_argument("--padding", action="store_true", help="also measure what the padding outputs carry")
    ap.add_argument("--continue-epochs", type=int, default=0, help="train on from the checkpoint this many epochs")
    ap.add_argument(
        "--continue-row",
        action="append",
        help="a suite row whose recipe trains on (repeatable; default the code's row: ICLRec or CoSeRec)",
    )
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = ap.parse_args()
    code = CODES[args.code]
    suite_file, stem = DATASETS[args.dataset]
    if args.dataset not in code["published"]:  # type: ignore[operator]
        raise SystemExit(
            f"--code {args.code}: no published row for --dataset {args.dataset} (have: {', '.join(code['published'])})"
        )  # type: ignore[arg-type]
    if args.continue_epochs > 0 and args.dataset != "beauty":
        raise SystemExit("--continue-epochs trains the Beauty suite's rows: use it with --dataset beauty")
    published: dict[str, float] = code["published"][args.dataset]  # type: ignore[index]
    torch.set_num_threads(args.threads)
    path = Path(args.checkpoint)
    if not path.is_file():
        raise SystemExit(f"--checkpoint {path}: no such file ({str(code['origin']).format(stem=stem)})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    layers = len({k.split(".")[2] for k in ckpt if k.startswith("item_encoder.layer.")})

    from ssl4rec.running.plan import load_suite
    from ssl4rec.running.runner import Runner

    suite = load_suite(str(SUITES / suite_file))
    runner = Runner(suite)
    ds_spec, split_spec = suite.datasets[0], suite.splits[0]
    ds = runner.dataset(ds_spec)
    split = runner.split(ds_spec, split_spec, seed=suite.seeds[0])  # leave-one-out: the same for every seed
    train = split.train
    n_rows = ckpt["item_embeddings.weight"].shape[0]
    if n_rows != train.n_items + 2:
        raise ConfigError(
            f"{path}: item table of {n_rows} rows, the {ds_spec.label} split has {train.n_items} items (+2 expected)"
        )
    raw = ds.items["raw_id"].astype(int).to_numpy()
    if not (raw == torch.arange(1, len(raw) + 1).numpy()).all():
        raise ConfigError(
            f"{ds_spec.label} items are not numbered by raw id: the item rows cannot be copied as they are"
        )

    model = PRESETS.get(code["preset"])(
        epochs=1, encoder={"embedding_size": 64, "num_layers": layers, "num_heads": 2, "dropout": 0.5}, seed=0
    )
    model.device = torch.device("cpu")
    model._remember_train(train)  # noqa: SLF001  (the network built as restore() builds it, then filled)
    state = model._build(train.n_items, n_users=train.n_users).state_dict()  # noqa: SLF001
    mapped = {"encoder." + k: v for k, v in convert(ckpt, layers).items()}
    unknown = sorted(set(mapped) - set(state))
    if unknown:
        raise SystemExit(f"parameters with no place in ssl4rec's encoder: {unknown}")
    left = sorted(k for k in state if k.startswith("encoder.") and k not in mapped)
    state.update(mapped)
    model.restore(train, state, {})
    protocol = Protocol(ks=(5, 10, 20), metrics=("hr", "ndcg"), valid_metric="ndcg@20")
    res = evaluate(model, split, "test", protocol)
    ours = {k: float(res.metrics[k]) for k in METRICS}
    rows = [("ssl4rec evaluate (full ranking, history removed)", ours)]
    if args.their_masking:
        rows.append(
            (
                "as the code's --do_eval (history scored 0, every table row a candidate)",
                their_masking(model, split, (5, 10, 20)),
            )
        )

    def cell(name: str, vals: dict[str, float]) -> str:
        return " | ".join(
            f"{vals[k]:.4f}" + (f" ({(vals[k] - published[k]) / published[k]:+.1%})" if k in published else "")
            for k in METRICS
        )

    lines = [
        f"{path.name} (sha256 {digest[:16]}..., {layers} layer(s)) on `{suite.name}`'s {ds_spec.label} "
        f"leave-one-out split ({len(split.test)} test users); encoder tensors not in the checkpoint: {left or 'none'}",
        "",
        "| scored by | " + " | ".join(METRICS) + " |",
        "|---|" + "---:|" * len(METRICS),
        f"| {code['source']} | " + " | ".join(f"{published[k]:.4f}" if k in published else "–" for k in METRICS) + " |",
    ]
    for name, vals in rows:
        lines.append(f"| {name} | " + cell(name, vals) + " |")
    if args.padding:
        stats = padding_stats(model.net.encoder, train)
        lines += [
            "",
            "Padding outputs of the checkpoint as its code computes them (`window_outputs`, eval mode, first 2,000 users' training windows): "
            + "; ".join(f"{k} {v:.3f}" for k, v in stats.items())
            + ".",
        ]
    if args.continue_epochs > 0:
        for label in args.continue_row or [code["row"]]:
            lines += ["", *continued(model, state, split, suite, label, args.continue_epochs)]
    text = "\n".join(lines)
    print(text)
    if args.readme:
        key, title = code["section"]  # type: ignore[misc]
        if args.dataset != "beauty":
            key, title = f"{key} {args.dataset}", title.replace("Beauty", stem.replace("_", " "))
        _report.update_readme(key, title, text)


if __name__ == "__main__":
    main()
