"""item_repr attr / id+attr: items from their attributes, cold items scorable, n/a without attributes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ssl4rec.encoders.text_items import attribute_matrix
from ssl4rec.interactions import Batch, Interactions
from ssl4rec.objectives.base import IncompatibleError
from ssl4rec.ssl import build_ssl_model
from ssl4rec.testing import tiny_split

ENC = {"name": "transformer", "embedding_size": 16, "num_layers": 1, "num_heads": 2}
TRAIN = {"max_len": 8, "batch_size": 16, "epochs": 3, "seed": 1, "device": "cpu"}


def test_attribute_matrix_by_hand():
    items = pd.DataFrame({"genres": [["A", "B"], [], ["B"]], "attributes": [[7], [7, 9], []]})
    m, info = attribute_matrix(items, 3)
    assert m.shape == (3, 4) and info == {"tokens": 4, "columns": ["attributes", "genres"], "items_without": 0}
    assert m.sum(1).tolist() == [3.0, 2.0, 1.0]  # attr:7 genre:A genre:B | attr:7 attr:9 | genre:B
    with pytest.raises(ValueError, match="no attributes"):
        attribute_matrix(pd.DataFrame({"title": ["x"]}), 1)


@pytest.mark.parametrize("repr_", ["attr", "id+attr"])
def test_cold_items_are_scored_from_their_attributes(repr_):
    split = tiny_split(attributes=True)
    train = split.train
    cold = train.n_items - 1  # drop every interaction with the last item: it is cold
    df = train.df[train.df["item"] != cold]
    train = Interactions(df, train.n_users, train.n_items, items=train.items, users=train.users)
    model = build_ssl_model(ENC, ["next_item"], item_repr=repr_, **TRAIN).fit(train)
    assert model.can_score_cold_items and model.scorable_items() is None
    scores = model.score(Batch(torch.arange(train.n_users), split.history("test")))
    assert torch.isfinite(scores[:, cold]).all()
    # the cold item shares its attributes with items of its half: its vector is theirs, not the padding's
    table = model.net.item_embedding.scoring_matrix() if hasattr(model.net, "item_embedding") else None
    assert model.record_extra()["item_attributes"]["tokens"] == 2 + 2 + 3  # genres, attribute groups, 3 + i % 3
    if table is not None:
        assert table[cold].norm() > 0


def test_na_without_attributes():
    split = tiny_split()
    bare = Interactions(split.train.df, split.train.n_users, split.train.n_items)
    with pytest.raises(IncompatibleError, match="needs item attributes"):
        build_ssl_model(ENC, ["next_item"], item_repr="attr", **TRAIN).fit(bare)


def test_attr_learns_on_planted_attributes():
    """Users who only ever interact within one attribute group: attr ranks the group's items first."""
    rng = np.random.default_rng(0)
    n_items, rows = 40, []
    for u in range(60):
        group = u % 2
        pool = np.arange(n_items)[np.arange(n_items) % 2 == group]
        for t, i in enumerate(rng.choice(pool, 8, replace=False)):
            rows.append((u, int(i), 1.0, t))
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    items = pd.DataFrame({"attributes": [[i % 2] for i in range(n_items)]})
    train = Interactions(df, 60, n_items, items=items)
    model = build_ssl_model(ENC, ["next_item"], item_repr="attr", **{**TRAIN, "epochs": 15}).fit(train)
    scores = model.score(Batch(torch.arange(60), train))
    same = np.array([[(i % 2) == (u % 2) for i in range(n_items)] for u in range(60)])
    s = scores.numpy()
    assert (s[same].mean() - s[~same].mean()) > 0  # the user's group scores higher on average
