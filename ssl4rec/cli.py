"""Command-line interface (``ssl4rec`` console script, also ``python run_bench.py``).

Verbs::

    run SUITE.yaml [--out DIR] [--data DIR] [--fail-fast]   train + evaluate every cell, skip finished ones
    check SUITE.yaml [--out DIR]                              validate the suite whole, print its plan
    list [KIND] [--include GLOB] [--tag TAG]                   registered components with summaries
    leaderboard RESULTS_DIR [--to DIR]                         rebuild tables from records
    data info NAME [--data DIR]                                counts, density, checksum, files
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

logger = logging.getLogger("ssl4rec")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("urllib3", "filelock", "matplotlib", "PIL", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _load_selected(args: argparse.Namespace) -> Any:
    """The suite named by ``args.suite``, restricted by ``--models`` / ``--splits`` / ``--seeds``."""
    from .registry import ConfigError
    from .running.plan import load_suite

    suite = load_suite(args.suite)
    seeds = _csv(getattr(args, "seeds", None))
    try:
        seed_ints = [int(s) for s in seeds] if seeds else None
    except ValueError as exc:
        raise ConfigError(f"--seeds takes comma-separated integers, got {args.seeds!r}") from exc

    def labels(text: str | None, known: list[str]) -> list[str] | None:
        # a label may itself hold a comma ("BERT4Rec (mask 0.6, 400 ep)"): the whole argument first
        if text and text.strip() in known:
            return [text.strip()]
        return _csv(text)

    return suite.select(
        models=labels(getattr(args, "models", None), [m.label for m in suite.models]),
        splits=labels(getattr(args, "splits", None), [s.label for s in suite.splits]),
        seeds=seed_ints,
    )


def _set_threads(threads: int | None, concurrent: int = 1) -> tuple[int, str]:
    """Choose and apply the thread count (:mod:`ssl4rec.running.threads`); returns ``(n, why)``."""
    from .running.threads import apply_threads, choose_threads

    n, why = choose_threads(threads, concurrent=concurrent)
    apply_threads(n)
    logger.debug("threads: %d (%s)", n, why)
    return n, why


def _writable_out(out: str | Path, flag: str = "--out") -> Path:
    """``out`` as a Path, refused before any work when it cannot become a results folder: an existing
    file, a path through a file, or a folder this process may not write."""
    from .registry import ConfigError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out} is a file, not a folder: give a results folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{flag} {out}: {probe} is a file, so {out} cannot be created; give a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {out}: {probe} is not writable; give a folder you can write")
    return out


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=None, help="only these model labels (comma-separated)")
    parser.add_argument("--splits", default=None, help="only these split labels (comma-separated)")
    parser.add_argument("--seeds", default=None, help="only these of the suite's seeds (comma-separated)")


def _tuning(args: argparse.Namespace, suite: Any, out: str | None) -> dict[str, dict[str, Any]] | None:
    """The tuned parameters ``--tuned`` asks for (``--tuned-from`` a folder or a .best.yaml file, else
    ``out``'s or the suite's own), every cell checked to have some; None without ``--tuned``."""
    if not getattr(args, "tuned", False):
        if getattr(args, "tuned_from", None):
            from .registry import ConfigError

            raise ConfigError("--tuned-from goes with --tuned")
        return None
    from .running.tuning import check_tuned, load_best

    tuning = load_best(args.suite, getattr(args, "tuned_from", None) or out)
    check_tuned(suite, tuning)
    return tuning


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a suite whole and print its plan: every cell, its record state, n/a reasons."""
    from .running.runner import Runner

    suite = _load_selected(args)
    tuning = None
    tuning = _tuning(args, suite, args.out)
    plan = Runner(suite, out=Path(args.out), tuning=tuning).plan()
    width = max((len(c.cell_id) for c in plan), default=0)
    print(
        f"suite {suite.name} ({suite.path}): {len(suite.datasets)} dataset(s) x {len(suite.splits)} split(s) x "
        f"{len(suite.models)} model(s) x {len(suite.seeds)} seed(s) = {len(plan)} cell(s); "
        f"protocol: {suite.protocol.label()}"
    )
    for c in plan:
        print(f"  {c.cell_id.ljust(width)}  {c.status}{': ' + c.error if c.error else ''}")
    counts = {k: sum(c.status == k for c in plan) for k in ("done", "running", "pending", "n/a")}
    running = f" ({counts['running']} running now)" if counts["running"] else ""
    print(
        f"{counts['done']} done, {counts['pending'] + counts['running']} to run{running}, {counts['n/a']} n/a "
        f"(records in {args.out})"
    )
    return 0


def _check_counts(args: argparse.Namespace, *names: str) -> None:
    """Refuse a negative count option (``--checkpoint-every``, ``--save-rankings``: N >= 1, 0 = off)."""
    from .registry import ConfigError

    for name in names:
        value = getattr(args, name)
        if value < 0:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} must be a whole number >= 1 (0 = off), got {value}")


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .reporting.leaderboard import write_leaderboards
    from .running.runner import Runner

    if getattr(args, "dry_run", False):
        return cmd_check(args)
    _check_counts(args, "save_rankings", "checkpoint_every")
    suite = _load_selected(args)
    out = _writable_out(args.out)
    executor = getattr(args, "executor", "local")
    if executor != "local" and args.track:
        from .registry import ConfigError

        raise ConfigError(f"--track is not available with --executor {executor} yet: track a sequential run")
    if executor != "local" and args.workers < 1:
        from .registry import ConfigError

        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    threads = _set_threads(args.threads, concurrent=args.workers if executor != "local" else 1)
    tuning = _tuning(args, suite, args.out)
    trackers = []
    if getattr(args, "track", None) == "wandb":
        from .running.tracking import WandbTracker

        trackers.append(WandbTracker(project=args.wandb_project, suite=suite.name, out=out))
    with logging_redirect_tqdm():
        runner = Runner(
            suite,
            out=out,
            data_dir=args.data,
            fail_fast=args.fail_fast,
            trackers=trackers,
            tuning=tuning,
            save_models=args.save_models,
            save_rankings=args.save_rankings,
            threads=threads,
            checkpoint_every=args.checkpoint_every,
            device=args.device,
            precision=args.precision,
        )
        if executor == "local":
            outcomes = runner.run()
        else:
            from .running.executors import ExecutorOptions, run_with_executor

            options = ExecutorOptions(
                executor=executor,
                workers=args.workers,
                threads=threads[0],
                gpus=args.gpus,
                address=args.address,
                retries=args.retries,
                slurm_partition=args.slurm_partition,
                slurm_time=args.slurm_time,
                slurm_cluster=args.slurm_cluster,
                cells_per_job=args.cells_per_job,
            )
            outcomes = run_with_executor(runner, options)
    from .reporting.leaderboard import build_tables, summary_text
    from .reporting.records import ResultsStore

    tables = build_tables(ResultsStore(out), comparisons=list(suite.comparisons))  # once: written, then summarised
    written = write_leaderboards(out, tables=tables)
    if suite.published:
        from .reporting.reproduce import write_reproduction

        written += write_reproduction(suite, out, out / "leaderboards" / "reproductions" / suite.name)
    for t in trackers:
        t.finish(written)
    failed = [o for o in outcomes if o.status == "failed"]
    logger.info("leaderboards: %s", out / "leaderboards")
    if tables:
        print(summary_text(tables, out / "leaderboards"))
    for o in failed:
        logger.error("failed cell %s: %s", o.cell_id, o.error)
    return 1 if failed else 0


def cmd_tune(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .registry import ConfigError
    from .running.tuning import tune

    if args.trials < 1:
        raise ConfigError(f"--trials must be a whole number >= 1 (trials per model), got {args.trials}")
    _check_counts(args, "checkpoint_every")
    suite = _load_selected(args)
    out = _writable_out(args.out)
    if args.executor == "ray":
        if args.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {args.workers}")
        from .running.executors import ExecutorOptions, tune_with_ray

        n, _ = _set_threads(args.threads, concurrent=args.workers)
        options = ExecutorOptions(executor="ray", workers=args.workers, threads=n, address=args.address)
        with logging_redirect_tqdm():
            best = tune_with_ray(
                suite, out, args.trials, args.storage, args.data, args.timeout, options, args.checkpoint_every
            )
    else:
        _set_threads(args.threads)
        with logging_redirect_tqdm():
            best = tune(
                suite,
                out,
                args.trials,
                storage=args.storage,
                data_dir=args.data,
                timeout=args.timeout,
                checkpoint_every=args.checkpoint_every,
            )
    for key, b in best.items():
        logger.info("%s: %s", key, b)
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .registry import ConfigError
    from .reporting.records import atomic_write_bytes
    from .reporting.sensitivity import DEFAULT_PROTOCOLS, protocol_suites, sensitivity_report
    from .running.runner import Runner

    names = _csv(args.protocols) or list(DEFAULT_PROTOCOLS)
    unknown = [n for n in names if n not in DEFAULT_PROTOCOLS]
    if unknown or len(names) < 2:
        raise ConfigError(f"--protocols: give two or more of {', '.join(DEFAULT_PROTOCOLS)} (got {', '.join(names)})")
    _check_counts(args, "checkpoint_every")
    suite = _load_selected(args)
    out = _writable_out(args.out)
    threads = _set_threads(args.threads)
    suites = protocol_suites(suite, {n: DEFAULT_PROTOCOLS[n] for n in names})
    tuning = _tuning(args, suite, None)
    if not args.report_only:
        runners = {}
        for name, psuite in suites.items():  # a sampled protocol needs more items than negatives: say so first
            runner = runners[name] = Runner(
                psuite,
                out=out / name,
                data_dir=args.data,
                threads=threads,
                tuning=tuning,
                checkpoint_every=args.checkpoint_every,
            )
            for dspec in psuite.datasets:
                n_items = runner.dataset(dspec).n_items
                if psuite.protocol.candidates == "sampled" and psuite.protocol.n_negatives >= n_items:
                    raise ConfigError(
                        f"protocol {name}: {psuite.protocol.n_negatives} sampled negatives but dataset {dspec.label} "
                        f"has {n_items} items; leave {name} out (--protocols) for this suite"
                    )
        first, *others = runners.values()
        if not args.separate_fits:  # one fit per cell, evaluated under every protocol
            first.companions = others
        with logging_redirect_tqdm():
            for name, runner in runners.items():  # the others then fit only cells the first had finished before
                logger.info("protocol %s -> %s", name, out / name)
                runner.run()
    md, table, figures = sensitivity_report(
        out, names, primary=suite.protocol.valid_metric if args.metric is None else args.metric
    )
    atomic_write_bytes(out / "sensitivity.md", md.encode())
    atomic_write_bytes(out / "sensitivity.csv", table.encode())
    for name, svg in figures.items():
        atomic_write_bytes(out / name, svg.encode())
    print(md, end="")
    logger.info("report: %s", out / "sensitivity.md")
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    from .reporting.records import atomic_write_bytes
    from .reporting.robustness import robustness_report

    md, table, svg = robustness_report(args.results, k=args.k)
    to = Path(args.to) if args.to else Path(args.results) / "leaderboards"
    for name, body in (("robustness.md", md), ("robustness.csv", table), ("robustness.svg", svg)):
        atomic_write_bytes(to / name, body.encode())
    print(md, end="")
    logger.info("report: %s", to / "robustness.md")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import REGISTRIES, load_plugins

    errors = load_plugins()
    kinds = [args.kind] if args.kind else list(REGISTRIES)
    for kind in kinds:
        key = _registry_key(kind)
        reg = REGISTRIES[key]
        entries = reg.list(include=args.include or None, tags=args.tag or None)
        print(f"{key} ({len(entries)})")
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            alias = f" (aliases: {', '.join(e.aliases)})" if e.aliases else ""
            print(f"  {e.name.ljust(width)}  {e.summary}{alias}")
        print()
    for name, err in errors.items():
        print(f"plugin {name!r} failed to load: {err}", file=sys.stderr)
    return 0


def _registry_key(kind: str) -> str:
    """The registry a ``list`` / ``show`` kind names (singular or plural), or ConfigError with a suggestion."""
    from .registry import REGISTRIES, ConfigError, did_you_mean

    key = kind if kind in REGISTRIES else kind + "s"
    if key not in REGISTRIES:
        raise ConfigError(
            f"unknown kind {kind!r}.{did_you_mean(kind, list(REGISTRIES))} Kinds: {', '.join(REGISTRIES)}"
        )
    return key


def cmd_show(args: argparse.Namespace) -> int:
    """One registered component: summary, paper, parameters with defaults, search space (presets: spec)."""
    import dataclasses

    from .registry import REGISTRIES, load_plugins

    load_plugins()
    e = REGISTRIES[_registry_key(args.kind)].entry(args.name)
    print(f"{e.kind} {e.name} (version {e.version}){': ' + e.summary if e.summary else ''}")
    if e.paper:
        print(f"paper: {e.paper}")
    for label, values in (("aliases", e.aliases), ("tags", e.tags), ("requires", e.requires), ("provides", e.provides)):
        if values:
            print(f"{label}: {', '.join(values)}")
    if e.config is not None and dataclasses.is_dataclass(e.config):
        print("parameters (default):")
        for f in dataclasses.fields(e.config):
            default = (
                f.default
                if f.default is not dataclasses.MISSING
                else (
                    f.default_factory() if f.default_factory is not dataclasses.MISSING else "(required)"  # type: ignore[misc]
                )
            )
            print(f"  {f.name} = {default!r}")
    spec = e.meta.get("spec")
    if spec:
        print("spec:")
        print(json.dumps(spec, indent=2, default=str))
        from .ssl.composite import SSLTrainConfig

        print("training parameters (default; the spec's own values above take precedence):")
        for f in dataclasses.fields(SSLTrainConfig):
            print(f"  {f.name} = {spec.get(f.name, f.default)!r}")
    if e.search_space:
        print("search space:")
        for name, space in e.search_space.items():
            print(f"  {name}: {space}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .reporting.leaderboard import write_leaderboards
    from .running.plan import load_suite

    pairs = list(dict.fromkeys(pair for path in args.suite for pair in load_suite(path).comparisons))
    written = write_leaderboards(args.results, args.to, skip_unreadable=args.skip_unreadable, comparisons=pairs)
    for p in written:
        print(p)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .reporting.records import atomic_write_bytes
    from .reporting.rerun import diff_records

    md, _ = diff_records(args.old, args.new, metric=args.metric, tol=args.tol)
    if args.to:
        atomic_write_bytes(Path(args.to), md.encode())
    print(md, end="")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .reporting.records import ResultsStore

    store = ResultsStore(args.results)
    counts = {"ok": 0, "unsigned": 0}
    edited = []
    for rec in store.iter_records(include_failed=True):
        verdict = store.verify(rec)
        if verdict in counts:
            counts[verdict] += 1
        else:
            edited.append(f"{rec.path}: {verdict}")
    for line in edited:
        print(f"EDITED {line}")
    print(
        f"{counts['ok'] + counts['unsigned'] + len(edited)} records: {counts['ok']} match their content hashes, "
        f"{len(edited)} edited after writing, {counts['unsigned']} written before hashes were kept (not checkable)"
    )
    return 1 if edited else 0


def cmd_publish(args: argparse.Namespace) -> int:
    from .reporting.leaderboard import publish

    suites = []
    if args.suite:
        from .running.plan import load_suite

        suites = [load_suite(p) for p in args.suite]
    if args.report and len(suites) > 1:
        from .registry import ConfigError

        raise ConfigError("--report names one report file: give it with a single --suite")
    # every suite's models are listed on its datasets' tables (several suites: the union per dataset)
    # (a model that runs on some splits only is expected on those: key "dataset/split")
    expected: dict[str, list[str]] | None = None
    if suites:
        expected = {}
        for suite in suites:
            for d in suite.datasets:
                have = expected.setdefault(d.label, [])
                have += [m.label for m in suite.models if not m.splits and m.label not in have]
                for s in suite.splits:
                    some = expected.setdefault(f"{d.label}/{s.label}", [])
                    some += [m.label for m in suite.models if m.splits and m.runs_on(s) and m.label not in some]
    comparisons = list(dict.fromkeys(pair for suite in suites for pair in suite.comparisons))
    written = publish(
        args.results,
        args.to,
        datasets=args.dataset,
        expected=expected,
        supersede=args.supersede,
        comparisons=comparisons,
    )
    for suite in suites:
        from .reporting.reproduce import write_reproduction

        if suite.published:
            report = Path(args.report) if args.report else Path(args.to) / "reproductions" / suite.name
            written += write_reproduction(suite, args.to, report)
    if args.readme:
        from .reporting.leaderboard import update_readme

        update_readme(args.readme, args.readme_root)
    for p in written:
        print(p)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .registry import ConfigError
    from .reporting.reproduce import write_reproduction
    from .running.plan import load_suite

    suite = load_suite(args.suite)
    if not suite.published:
        raise ConfigError(f"{args.suite} has no 'published' block to compare with")
    for p in write_reproduction(suite, args.results, Path(args.to)):
        print(p)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .evaluation.metrics import normalize_metric
    from .reporting.leaderboard import compare_models, render_comparison
    from .reporting.records import ResultsStore

    subset, _, name = args.metric.rpartition("/")  # e.g. cold/ndcg@10
    metric = (subset + "/" if subset else "") + normalize_metric(name, "--metric")
    rows = compare_models(ResultsStore(args.results), args.a, args.b, metric, args.dataset, args.split)
    text = render_comparison(rows, args.alpha)
    if args.to:
        Path(args.to).write_text(text)
    print(text, end="")
    return 0


def cmd_export_users(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .registry import ConfigError
    from .reporting.export import export_users
    from .running.builders import cell_seed, fit_cell
    from .running.plan import load_suite
    from .running.runner import Runner

    suite = load_suite(args.suite)
    _set_threads(args.threads)
    parts = args.cell.split("/")
    if len(parts) != 3:
        raise ConfigError(f"--cell must be DATASET/SPLIT/MODEL (labels of the suite), got {args.cell!r}")
    pick = {
        "dataset": [d for d in suite.datasets if d.label == parts[0]],
        "split": [s for s in suite.splits if s.label == parts[1]],
        "model": [m for m in suite.models if m.label == parts[2]],
    }
    for what, found in pick.items():
        if not found:
            raise ConfigError(
                f"--cell: no {what} labelled {parts[['dataset', 'split', 'model'].index(what)]!r} in {args.suite}"
            )
    dspec, sspec, mspec = pick["dataset"][0], pick["split"][0], pick["model"][0]
    runner = Runner(suite, out=args.results or "results", data_dir=args.data)
    split = runner.split(dspec, sspec, args.seed)
    model = _saved_model(runner, dspec, sspec, mspec, args.seed) if args.results else None
    if model is None:
        model_seed = cell_seed(dspec.label, sspec.label, mspec.label, args.seed)
        with logging_redirect_tqdm():
            model = fit_cell(
                mspec, split, suite.protocol, model_seed, max_users=suite.validation.get("max_users")
            ).model
    summary = export_users(model, split, stage=args.stage, path=args.to, k=args.k)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _saved_model(runner: Any, dspec: Any, sspec: Any, mspec: Any, seed: int) -> Any:
    """The model saved with the cell's record in the runner's results folder, or None (it is trained)."""
    cell_id, rel = runner.cell_key(dspec, sspec, mspec, seed)
    path = runner.store.record_path(rel)
    if not path.is_file():
        logger.info("no record of %s in %s: training the model", cell_id, runner.store.root)
        return None
    record = runner.store.read(path)
    if not record.model_file:
        logger.info("%s has no saved model (run the suite with --save-models to keep one): training it", path)
        return None
    logger.info("loading the saved model of %s (%s)", cell_id, record.model_file)
    return runner.store.load_model(record)


def cmd_studies(args: argparse.Namespace) -> int:
    from .registry import ConfigError
    from .running.studies import check_journal, export_studies, import_studies, summarise_studies
    from .running.tuning import storage_url

    if args.studies_verb != "import" and not args.storage and not (Path(args.results) / "tuning.db").is_file():
        raise ConfigError(
            f"no tuning studies in {args.results} (no tuning.db there): give the --out folder of `ssl4rec tune`, or --storage URL"
        )
    if args.studies_verb == "export":
        counts = export_studies(storage_url(args.results, args.storage), args.to)
        for name, n in counts.items():
            logger.info("%s: %d trials", name, n)
    elif args.studies_verb == "import":
        check_journal(args.snapshot)  # before the storage (and its folder) exists
        for name, (n, again) in import_studies(args.snapshot, storage_url(args.out, args.storage)).items():
            logger.info("%s: %d trials%s", name, n, f", {again} interrupted one(s) queued again" if again else "")
    else:
        rows = summarise_studies(storage_url(args.results, args.storage))
        print("| study | trials | complete | pruned | fail | running | waiting | best value (trial) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            best = "–" if r["best_value"] is None else f"{r['best_value']:.4f} ({r['best_trial']})"
            print(
                f"| {r['study']} | {r['trials']} | {r['complete']} | {r['pruned']} | {r['fail']} | {r['running']} | {r['waiting']} | {best} |"
            )
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .datasets import dataset_info

    info = dataset_info(args.name, data_dir=args.data, **_key_values(args.param or [], "--param"))
    print(json.dumps(info, indent=2, default=str))
    return 0


def cmd_data_images(args: argparse.Namespace) -> int:
    from .datasets import load_dataset
    from .datasets.images import build_image_encoder, embed_item_images

    encoder = build_image_encoder(args.model)
    ds = load_dataset(args.name, data_dir=args.data, **_key_values(args.param or [], "--param"))
    info = embed_item_images(ds.items, Path(args.images), encoder, Path(args.to))
    print(json.dumps(info, indent=2))
    return 0


def _key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    """``["dataset=ml-1m", "min_rating=4"]`` -> ``{"dataset": "ml-1m", "min_rating": 4}`` (values read as YAML)."""
    import yaml

    from .registry import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"{flag} takes KEY=VALUE, got {pair!r} (e.g. {flag} dataset=ml-1m)")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``ssl4rec run: error: ... (ssl4rec run --help)``, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ssl4rec", description="Benchmark self-supervised and LM-enhanced recommenders.")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error (errors are one line otherwise)")
    sub = p.add_subparsers(dest="verb", required=True)

    _add_running_commands(sub)
    _add_registry_commands(sub)
    _add_reporting_commands(sub)
    _add_tool_commands(sub)
    return p


def _add_running_commands(sub: Any) -> None:
    """run, check, robustness, sensitivity, tune: the suite's cells."""
    _add_run(sub)
    _add_check(sub)
    _add_tracks(sub)
    _add_tune(sub)


def _add_checkpoint_every(p: Any, unit: str = "cell") -> None:
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help=f"save each {unit}'s training state every N epochs; a {unit} killed mid-way resumes from it (same result)",
    )


def _add_run(sub: Any) -> None:
    r = sub.add_parser("run", help="train + evaluate every cell of a suite (finished cells are skipped)")
    r.add_argument("suite")
    r.add_argument("--out", default="results", help="results folder (default: results/)")
    r.add_argument("--data", default=None, help="data folder (default: $SSL4REC_DATA or ~/.cache/ssl4rec)")
    r.add_argument("--fail-fast", action="store_true", help="stop at the first failing cell")
    r.add_argument(
        "--save-models",
        action="store_true",
        help="save each fitted model beside its record (reloadable; export-users --results reuses it)",
    )
    r.add_argument(
        "--device", default=None, help="auto, cpu, cuda, cuda:N or mps for every trainable model (default: each model's own)"
    )
    r.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="training precision (autocast; default fp32)"
    )
    ex = r.add_argument_group("executors (docs/scaling.md)")
    ex.add_argument(
        "--executor",
        choices=("local", "ray", "slurm"),
        default="local",
        help="where cells run: this process (default), Ray tasks, or Slurm jobs through submitit",
    )
    ex.add_argument("--workers", type=int, default=2, help="cells at a time through an executor (default 2)")
    ex.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray on 127.0.0.1)")
    ex.add_argument("--retries", type=int, default=2, help="retries of a cell whose worker died (default 2)")
    ex.add_argument("--gpus", type=float, default=0.0, help="GPUs per cell (Ray num_gpus, Slurm gpus_per_node)")
    ex.add_argument("--slurm-partition", default=None)
    ex.add_argument("--slurm-time", type=int, default=60, help="minutes per Slurm job (default 60)")
    ex.add_argument("--slurm-cluster", default=None, help="submitit cluster; 'local' runs the jobs as local processes")
    ex.add_argument("--cells-per-job", type=int, default=1, help="cells per Slurm array task (default 1)")
    _add_checkpoint_every(r)
    r.add_argument(
        "--save-rankings",
        type=int,
        default=0,
        metavar="K",
        help="save each cell's top-K test rankings beside its record: TREC run + qrels (ranx, trec_eval) and Parquet",
    )
    r.add_argument(
        "--tuned",
        action="store_true",
        help="use the best parameters found by `tune --out OUT` (OUT/SUITE.best.yaml, else SUITE.best.yaml beside the suite)",
    )
    r.add_argument(
        "--tuned-from",
        default=None,
        help="with --tuned: a results folder or a .best.yaml file to read the tuned parameters from (e.g. another "
        "suite's, for models that name the tuned model they share parameters with: params.tuned_as)",
    )
    r.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice, all cores)"
    )
    r.add_argument("--track", choices=["wandb"], default=None, help="also log to wandb (offline when no account)")
    r.add_argument("--wandb-project", default="ssl4rec")
    r.add_argument(
        "--dry-run", action="store_true", help="validate the suite and print its plan (as `check`); train nothing"
    )
    _add_selection(r)
    r.set_defaults(func=cmd_run)


def _add_check(sub: Any) -> None:
    ck = sub.add_parser("check", help="validate a suite whole and print its plan (cells, records found, n/a reasons)")
    ck.add_argument("suite")
    ck.add_argument("--out", default="results", help="results folder whose records are looked up (default: results/)")
    ck.add_argument("--tuned", action="store_true", help="plan the cells with the parameters found by `tune`")
    ck.add_argument("--tuned-from", default=None, help="with --tuned: a results folder or a .best.yaml file")
    _add_selection(ck)
    ck.set_defaults(func=cmd_check)


def _add_tracks(sub: Any) -> None:
    """The two evaluation tracks: robustness (from records) and protocol sensitivity."""
    rb = sub.add_parser("robustness", help="target hit rate and accuracy vs shilling-attack size, from records")
    rb.add_argument("results")
    rb.add_argument("--k", type=int, default=10)
    rb.add_argument("--to", default=None, help="output folder (default: RESULTS_DIR/leaderboards)")
    rb.set_defaults(func=cmd_robustness)
    se = sub.add_parser("sensitivity", help="run a suite under several protocols and report how its model ranking changes")
    se.add_argument("suite")
    se.add_argument("--out", default="sensitivity", help="results folder; one sub-folder per protocol (default: sensitivity/)")
    se.add_argument("--protocols", default=None, help="comma-separated: full, sampled-uniform, sampled-popularity (default: all)")
    se.add_argument("--metric", default=None, help="metric to rank by (default: the suite's valid_metric)")
    se.add_argument("--report-only", action="store_true", help="only rebuild the report from the records in --out")
    se.add_argument(
        "--tuned",
        action="store_true",
        help="use the parameters `tune` found for the suite (<suite>.best.yaml beside it or in --tuned-from)",
    )
    se.add_argument("--tuned-from", default=None, help="with --tuned: a results folder or a .best.yaml file")
    se.add_argument(
        "--separate-fits",
        action="store_true",
        help="train each protocol's cells apart (validation under that protocol) instead of evaluating one fit under all",
    )
    se.add_argument("--data", default=None)
    se.add_argument("--threads", type=int, default=None)
    _add_checkpoint_every(se)
    _add_selection(se)
    se.set_defaults(func=cmd_sensitivity)


def _add_tune(sub: Any) -> None:
    tu = sub.add_parser("tune", help="Optuna study per (dataset, split, model), same trial budget for every model")
    tu.add_argument("suite")
    tu.add_argument("--trials", type=int, default=20, help="trials per model (default 20)")
    tu.add_argument("--out", default="results", help="results folder (the default SQLite study lives here)")
    tu.add_argument(
        "--storage", default=None, help="Optuna storage URL (e.g. postgresql://...), shared by several workers"
    )
    tu.add_argument("--data", default=None)
    tu.add_argument("--timeout", type=float, default=None, help="seconds per study")
    tu.add_argument("--threads", type=int, default=None)
    tu.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="ray: --workers trial workers per study as Ray tasks"
    )
    tu.add_argument("--workers", type=int, default=2, help="trial workers with --executor ray (default 2)")
    tu.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray on 127.0.0.1)")
    _add_checkpoint_every(tu, "trial")
    _add_selection(tu)
    tu.set_defaults(func=cmd_tune)


def _add_registry_commands(sub: Any) -> None:
    """list: what is registered."""
    li = sub.add_parser("list", help="list registered components")
    li.add_argument(
        "kind", nargs="?", default=None, help="datasets, splits, baselines, presets, encoders, objectives, metrics, ..."
    )
    li.add_argument("--include", action="append", help="glob pattern on names (repeatable)")
    li.add_argument("--tag", action="append", help="only entries with this tag (repeatable)")
    li.set_defaults(func=cmd_list)


def _add_reporting_commands(sub: Any) -> None:
    """leaderboard, publish, report, compare: tables from records."""
    lb = sub.add_parser("leaderboard", help="rebuild leaderboards from the records in RESULTS_DIR")
    lb.add_argument("results")
    lb.add_argument("--to", default=None, help="output folder (default: RESULTS_DIR/leaderboards)")
    lb.add_argument(
        "--skip-unreadable", action="store_true", help="skip unreadable records with a warning (default: refuse)"
    )
    lb.add_argument(
        "--suite", action="append", default=[], help="show this suite's `comparisons` on the tables (repeatable)"
    )
    lb.set_defaults(func=cmd_leaderboard)

    sh = sub.add_parser(
        "show", help="one component: parameters and defaults, search space, paper (e.g. show preset sasrec)"
    )
    sh.add_argument("kind", help="preset, baseline, encoder, objective, dataset, split, metric, ...")
    sh.add_argument("name")
    sh.set_defaults(func=cmd_show)

    df = sub.add_parser("diff", help="compare two results folders cell by cell (a re-run against the records it replaces)")
    df.add_argument("old")
    df.add_argument("new")
    df.add_argument("--metric", default="ndcg@10", help="metric shown per cell (all metrics are compared)")
    df.add_argument("--tol", type=float, default=1e-6, help="absolute difference counted as equal (default 1e-6)")
    df.add_argument("--to", default=None, help="also write the report to this Markdown file")
    df.set_defaults(func=cmd_diff)
    vf = sub.add_parser("verify", help="check every record's metrics and per-user arrays against its content hashes")
    vf.add_argument("results")
    vf.set_defaults(func=cmd_verify)

    pb = sub.add_parser("publish", help="copy records into a publication folder and regenerate its leaderboards")
    pb.add_argument("results")
    pb.add_argument("--to", default="leaderboards", help="publication folder (default: leaderboards/)")
    pb.add_argument("--dataset", action="append", help="only this dataset label (repeatable)")
    pb.add_argument(
        "--suite",
        action="append",
        default=None,
        help="list the suite's models (missing rows where they have no record) and write its reproduction report "
        "(if it has published numbers); repeat it for several suites, e.g. one per dataset",
    )
    pb.add_argument(
        "--report",
        default=None,
        help="path (no extension) of the reproduction report (default: TO/reproductions/SUITE)",
    )
    pb.add_argument(
        "--supersede",
        action="store_true",
        help="each (dataset, split, model, seed) keeps only its newest record: older ones are not copied and are removed from TO/records (e.g. after re-tuning)",
    )
    pb.add_argument(
        "--readme", default=None, help="also regenerate the results block of this README from leaderboards/"
    )
    pb.add_argument("--readme-root", default="leaderboards", help="folder whose records the README summary covers")
    pb.set_defaults(func=cmd_publish)

    rp = sub.add_parser("report", help="reproduction report: our records beside a suite's published numbers")
    rp.add_argument("suite")
    rp.add_argument("results")
    rp.add_argument("--to", required=True, help="output path without extension (writes .md and .csv)")
    rp.set_defaults(func=cmd_report)

    cp = sub.add_parser("compare", help="paired significance test of two models over users (each averaged over seeds)")
    cp.add_argument("results")
    cp.add_argument("a", help="model label A")
    cp.add_argument("b", help="model label B")
    cp.add_argument("--metric", default="ndcg@10", help="metric, e.g. ndcg@10 or cold/ndcg@10 (default: ndcg@10)")
    cp.add_argument("--dataset", default=None, help="only this dataset label")
    cp.add_argument("--split", default=None, help="only this split label")
    cp.add_argument("--alpha", type=float, default=0.05)
    cp.add_argument("--to", default=None, help="also write the Markdown table to this file")
    cp.set_defaults(func=cmd_compare)


def cmd_export(args: argparse.Namespace) -> int:
    from .results import export

    for path in export(args.results, args.to, args.format):
        print(path)
    return 0


def _add_tool_commands(sub: Any) -> None:
    """export, export-users, studies, data."""
    rx = sub.add_parser(
        "export", help="write RESULTS_DIR's records as data: results (tidy, one row per metric) and per-user values"
    )
    rx.add_argument("results")
    rx.add_argument("--format", choices=("csv", "parquet"), default="csv")
    rx.add_argument("--to", default=None, help="output folder (default: RESULTS_DIR/leaderboards)")
    rx.set_defaults(func=cmd_export)
    ex = sub.add_parser(
        "export-users", help="train one cell's model and write user vectors + nearest genres/attributes"
    )
    ex.add_argument("suite")
    ex.add_argument("--cell", required=True, help="DATASET/SPLIT/MODEL labels from the suite")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument(
        "--stage", default="test", choices=["valid", "test"], help="whose history defines the users' vectors"
    )
    ex.add_argument("--k", type=int, default=3, help="nearest labels per user")
    ex.add_argument("--to", required=True, help="output path without extension (.npz + .csv)")
    ex.add_argument("--data", default=None)
    ex.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ex.add_argument(
        "--results",
        default=None,
        help="results folder of `run --save-models`: reuse the cell's saved model instead of training it",
    )
    ex.set_defaults(func=cmd_export_users)

    st = sub.add_parser("studies", help="tuning studies: snapshot to a text file, restore elsewhere, list")
    ssub = st.add_subparsers(dest="studies_verb", required=True)
    se = ssub.add_parser(
        "export", help="write every study of RESULTS_DIR's storage to an Optuna journal file (JSON lines)"
    )
    se.add_argument("results")
    se.add_argument("--to", required=True, help="snapshot file, e.g. leaderboards/studies/SUITE.jsonl")
    si = ssub.add_parser("import", help="restore a snapshot's studies into a results folder; `tune` then resumes them")
    si.add_argument("snapshot")
    si.add_argument("--out", default="results", help="results folder whose SQLite study gets them (default: results/)")
    sl = ssub.add_parser("list", help="trials by state and best value of every study in RESULTS_DIR's storage")
    sl.add_argument("results")
    for sp in (se, si, sl):
        sp.add_argument(
            "--storage", default=None, help="Optuna storage URL instead of the results folder's SQLite file"
        )
        sp.set_defaults(func=cmd_studies)

    d = sub.add_parser("data", help="dataset commands")
    dsub = d.add_subparsers(dest="data_verb", required=True)
    di = dsub.add_parser("info", help="counts, density, checksum and where the files were found")
    di.add_argument("name")
    di.add_argument("--data", default=None)
    di.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a dataset parameter, repeatable (e.g. data info recbole --param dataset=ml-1m)",
    )
    di.set_defaults(func=cmd_data)
    dm = dsub.add_parser(
        "images", help="embed a folder of item images (<raw id>.jpg) with CLIP into the .npz item_features reads"
    )
    dm.add_argument("name")
    dm.add_argument("--images", required=True, help="folder of item images named <raw item id>.jpg/.jpeg/.png/.webp")
    dm.add_argument("--to", required=True, help="the .npz to write (ids, vectors)")
    dm.add_argument("--model", default="clip", help="clip or clip:<model> (default clip = openai/clip-vit-base-patch32)")
    dm.add_argument("--data", default=None)
    dm.add_argument("--param", action="append", metavar="KEY=VALUE", help="a dataset parameter, repeatable")
    dm.set_defaults(func=cmd_data_images)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    from .registry import ConfigError, UnknownNameError

    try:
        from .datasets import DataError
    except ImportError:  # pragma: no cover - datasets package always present
        DataError = ValueError  # noqa: N806
    from .reporting.leaderboard import MergeError
    from .reporting.records import RecordError

    try:
        return int(args.func(args) or 0)
    except (ConfigError, UnknownNameError, DataError, MergeError, RecordError) as exc:
        logger.error("%s", exc, exc_info=args.debug)
        return 2
    except OSError as exc:  # the environment: a file or folder that cannot be read or written
        where = f" ({exc.filename})" if getattr(exc, "filename", None) and str(exc.filename) not in str(exc) else ""
        logger.error("%s%s; run with --debug for the traceback", exc, where, exc_info=args.debug)
        return 2


if __name__ == "__main__":
    sys.exit(main())
