"""Shilling attacks (issue 25, track 2): fake user profiles injected into a split's training part.

Each attack adds ``round(size * genuine users)`` fake users (new ids after the genuine ones), each
interacting with every target item plus ``filler`` filler items; valid and test are untouched, and the
split's ``info["attack"]`` records the attack, its parameters, the fake user ids and the target items
(dense ids). For sequence models a fake user's events are ordered fillers first, targets last (the
fake sequences end in the targets), all after the genuine training log's last timestamp.

Filler rules (implicit feedback, where an interaction is a positive event):

* ``random``: fillers drawn uniformly from the catalogue (Lam & Riedl, WWW 2004);
* ``average``: fillers drawn in proportion to item popularity, the implicit-feedback analogue of
  rating fillers at each item's mean (Lam & Riedl);
* ``bandwagon``: the ``popular`` most popular items for every fake user plus random fillers (Burke et
  al., 2005).

Targets: dense item ids (``targets: [3, 17]``), or a popularity band and a count
(``targets: {band: unpopular | middle | popular, n: 5}``: items drawn from the bottom, middle or top
third of items with training interactions, seeded).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from ..interactions import Interactions, SplitData
from ..registry import ConfigError, register_attack

__all__ = ["attack_targets", "choose_targets", "inject"]

BANDS = ("unpopular", "middle", "popular")


def choose_targets(train: Interactions, targets: Any, rng: np.random.Generator) -> np.ndarray:
    """Dense target item ids from ``targets`` (ids, or ``{band, n}``)."""
    counts = np.asarray(train.item_counts)
    if isinstance(targets, dict):
        band, n = targets.get("band", "unpopular"), int(targets.get("n", 1))
        if band not in BANDS:
            raise ConfigError(f"attack targets.band {band!r}: use one of {', '.join(BANDS)}")
        seen = np.flatnonzero(counts > 0)
        order = seen[np.argsort(counts[seen], kind="stable")]
        third = max(1, len(order) // 3)
        pool = {"unpopular": order[:third], "middle": order[third : 2 * third], "popular": order[-third:]}[band]
        if not 1 <= n <= len(pool):
            raise ConfigError(f"attack targets.n = {n}: the {band} band has {len(pool)} items")
        return np.sort(rng.choice(pool, n, replace=False))
    ids = np.asarray(list(targets) if isinstance(targets, list | tuple) else [targets], dtype=np.int64)
    bad = ids[(ids < 0) | (ids >= train.n_items)]
    if len(bad) or len(ids) == 0:
        raise ConfigError(
            f"attack targets {list(map(int, bad)) or '[]'}: target items are dense ids in [0, {train.n_items}) "
            "(or {band: unpopular, n: 5})"
        )
    return np.unique(ids)


def attack_targets(train: Interactions, targets: Any, seed: int) -> np.ndarray:
    """The target items of every attack at ``seed`` (the same for every attack and size: ``size: 0`` of
    the ``attacked`` split measures them on the clean data). Default: one item of the unpopular band."""
    rng = np.random.default_rng([seed, 15485863])
    return choose_targets(train, targets if targets is not None else {"band": "unpopular", "n": 1}, rng)


def inject(
    split: SplitData, name: str, profiles: list[np.ndarray], targets: np.ndarray, params: dict[str, Any]
) -> SplitData:
    """``split`` with one fake user per ``profiles`` row (filler items; targets appended last)."""
    train = split.train
    n_fake = len(profiles)
    first = train.n_users
    t0 = int(train.df["timestamp"].max()) + 1 if len(train) else 0
    rows = []
    for f, filler in enumerate(profiles):
        items = [*map(int, filler), *map(int, targets)]
        for k, it in enumerate(items):
            rows.append((first + f, it, 1.0, t0 + k))
    fake = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    users = train.users
    if users is not None and len(users) == train.n_users:
        extra = pd.DataFrame({c: [None] * n_fake for c in users.columns}, index=range(first, first + n_fake))
        if "raw_id" in extra.columns:
            extra["raw_id"] = [f"fake-{i}" for i in range(n_fake)]
        users = pd.concat([users, extra])
    new_train = Interactions(
        pd.concat([train.df, fake], ignore_index=True), first + n_fake, train.n_items, train.items, users,
        train.has_timestamps,
    )
    info = dict(split.info)
    info["attack"] = {
        "name": name,
        "params": params,
        "fake_users": list(range(first, first + n_fake)),
        "targets": [int(t) for t in targets],
        "genuine_users": first,
    }
    return dataclasses.replace(split, train=new_train, info=info)


def _check(split: SplitData, size: float, filler: int) -> int:
    if not 0 < float(size) < 1:
        raise ConfigError(f"attack size = {size}: the fraction of genuine users to add as fakes, in (0, 1) (e.g. 0.03)")
    if int(filler) < 0:
        raise ConfigError(f"attack filler = {filler}: filler items per fake user, >= 0")
    if len(split.train) == 0:
        raise ConfigError("attack: the split has no training part to inject fake users into")
    return max(1, round(float(size) * split.train.n_users))


def _fillers(
    rng: np.random.Generator, n_items: int, k: int, exclude: np.ndarray, p: np.ndarray | None = None
) -> np.ndarray:
    allowed = np.setdiff1d(np.arange(n_items), exclude)
    k = min(k, len(allowed))
    if p is not None:
        p = p[allowed] / p[allowed].sum() if p[allowed].sum() > 0 else None
    return rng.choice(allowed, k, replace=False, p=p)


@register_attack(
    "random", summary="Fake users with the targets plus uniformly random filler items.", tags=("shilling",)
)
def random_attack(
    split: SplitData, seed: int = 0, size: float = 0.03, filler: int = 20, targets: Any = None
) -> SplitData:
    n = _check(split, size, filler)
    tgt = attack_targets(split.train, targets, seed)
    rng = np.random.default_rng([seed, 7919])
    profiles = [_fillers(rng, split.train.n_items, int(filler), tgt) for _ in range(n)]
    return inject(split, "random", profiles, tgt, {"size": size, "filler": filler, "targets": targets})


@register_attack(
    "average", summary="Fake users with the targets plus popularity-weighted filler items.", tags=("shilling",)
)
def average_attack(
    split: SplitData, seed: int = 0, size: float = 0.03, filler: int = 20, targets: Any = None
) -> SplitData:
    n = _check(split, size, filler)
    tgt = attack_targets(split.train, targets, seed)
    rng = np.random.default_rng([seed, 7927])
    pop = np.asarray(split.train.item_counts, dtype=np.float64)
    profiles = [_fillers(rng, split.train.n_items, int(filler), tgt, pop) for _ in range(n)]
    return inject(split, "average", profiles, tgt, {"size": size, "filler": filler, "targets": targets})


@register_attack(
    "bandwagon", summary="Fake users with the targets, the most popular items and random fillers.", tags=("shilling",)
)
def bandwagon_attack(
    split: SplitData, seed: int = 0, size: float = 0.03, filler: int = 20, targets: Any = None, popular: int = 5
) -> SplitData:
    n = _check(split, size, filler)
    if int(popular) < 0:
        raise ConfigError(f"attack popular = {popular}: the number of most popular items every fake user takes, >= 0")
    tgt = attack_targets(split.train, targets, seed)
    rng = np.random.default_rng([seed, 7933])
    counts = np.asarray(split.train.item_counts)
    by_pop = np.argsort(-counts, kind="stable")
    top = by_pop[~np.isin(by_pop, tgt)][: int(popular)]  # the most popular items that are not targets
    profiles = [
        np.concatenate([top, _fillers(rng, split.train.n_items, max(0, int(filler) - len(top)), np.union1d(tgt, top))])
        for _ in range(n)
    ]
    return inject(
        split, "bandwagon", profiles, tgt, {"size": size, "filler": filler, "targets": targets, "popular": popular}
    )


def _defend(split: SplitData, defense: dict) -> SplitData:
    """Detect and drop: remove the training interactions of the users a detector flags."""
    from ..registry import DETECTORS, check_keys

    if not isinstance(defense, dict) or "detector" not in defense:
        raise ConfigError(
            f"attacked split defense must be {{detector: NAME, params: {{...}}, drop: N}}, got {defense!r}"
        )
    check_keys(defense, ["detector", "params", "drop"], "attacked split defense")
    scores = DETECTORS.get(defense["detector"])(split.train, **dict(defense.get("params") or {}))
    fakes = split.info["attack"]["fake_users"]
    n_users = split.train.n_users
    drop = defense.get("drop", "fakes")
    if drop == "fakes":
        n_drop = len(fakes)
    elif isinstance(drop, float) and 0 < drop < 1:
        n_drop = round(drop * n_users)
    elif isinstance(drop, int) and not isinstance(drop, bool) and 0 <= drop < n_users:
        n_drop = drop
    else:
        raise ConfigError(f"attacked split defense drop = {drop!r}: 'fakes', a fraction in (0, 1) or a count of users")
    flagged = np.lexsort((np.arange(n_users), -np.asarray(scores)))[:n_drop]
    df = split.train.df
    train = Interactions(
        df[~df["user"].isin(flagged)], n_users, split.train.n_items, split.train.items, split.train.users,
        split.train.has_timestamps,
    )
    caught = int(np.isin(flagged, fakes).sum())
    result: dict[str, Any] = {"detector": defense["detector"], "params": dict(defense.get("params") or {})}
    result.update(dropped=int(n_drop), genuine_dropped=int(n_drop) - caught)
    if fakes:
        from .detectors import detection_metrics

        result.update(
            auc=detection_metrics(scores, fakes)["auc"],
            precision=caught / max(1, int(n_drop)),
            recall=caught / len(fakes),
        )
    info = dict(split.info)
    info["attack"] = {**info["attack"], "defense": result}
    return dataclasses.replace(split, train=train, info=info)


def _base_of_attack(params: dict) -> tuple[str, dict]:
    """The split an attacked split is made from (its seed source: same valid / test)."""
    return str(params.get("base", "leave_one_out")), dict(params.get("base_params") or {})


def _register_attacked_split() -> None:
    from ..registry import register_split

    @register_split(
        "attacked",
        summary="A base split whose training part holds injected fake users (a shilling attack); size 0 = clean.",
        seed_from=_base_of_attack,
        level_param="size",
        level_label="attack size (fake users / genuine users)",
    )
    def attacked(
        ds: Any,
        seed: int = 0,
        attack: str = "random",
        size: float = 0.03,
        filler: int = 20,
        targets: Any = None,
        attack_params: dict | None = None,
        base: str = "leave_one_out",
        base_params: dict | None = None,
        defense: dict | None = None,
    ) -> SplitData:
        """The base split (same seed: same valid and test) with ``attack`` injecting ``size x`` genuine
        users fake profiles into its training part; ``size: 0`` is the clean base split with the same
        targets recorded, so target metrics can be compared across attack sizes. ``defense: {detector:
        NAME, params: {...}, drop: N}`` then runs a detector on the attacked training part and drops the
        training interactions of the N most suspicious users (``drop`` default ``fakes``: as many as
        there are fakes; a fraction < 1 of the users; an int), recording the detector's AUC, precision
        and recall and how many genuine users lost their history ("detect and drop")."""
        from ..registry import ATTACKS
        from .splits import make_split

        if base == "attacked":
            raise ConfigError("attacked cannot be its own base split")
        base_split = make_split(ds, base, seed=seed, **(base_params or {}))
        params = {
            "attack": attack,
            "size": size,
            "filler": filler,
            "targets": targets,
            "attack_params": dict(attack_params or {}),
        }
        if float(size) == 0:
            ATTACKS.entry(attack)  # an unknown attack name fails here too
            tgt = attack_targets(base_split.train, targets, seed)
            out = dataclasses.replace(base_split, info=dict(base_split.info))
            out.info["attack"] = {"name": attack, "params": params, "fake_users": [], "targets": [int(t) for t in tgt],
                                  "genuine_users": base_split.train.n_users}  # fmt: skip
        else:
            out = ATTACKS.get(attack)(
                base_split, seed=seed, size=size, filler=filler, targets=targets, **dict(attack_params or {})
            )
        if defense:
            out = _defend(out, defense)
        params["defense"] = dict(defense) if defense else None
        out.info.update(
            name="attacked", params={**params, "base": base, "base_params": dict(base_params or {})}, seed=seed
        )
        out.info["counts"] = {
            **dict(base_split.info.get("counts") or {}),
            "train": len(out.train),
            "fake_users": len(out.info["attack"]["fake_users"]),
        }
        out.info["base_fingerprint"] = base_split.info.get("fingerprint")
        out.info["fingerprint"] = out.fingerprint()
        return out


_register_attacked_split()
