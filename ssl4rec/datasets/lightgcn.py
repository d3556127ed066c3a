"""Datasets in the LightGCN format: ``train.txt`` and ``test.txt``, one line per user, ``user item item ...``.

The graph-CF literature (LightGCN, SGL, SimGCL, XSimGCL, NCL) evaluates on Gowalla, Yelp2018 and
Amazon-Book as the LightGCN authors partitioned them (kuandeng/LightGCN, ``Data/<name>/``). The
loaders read both files; the partition travels with the data: test rows get positions after
every training row (``timestamp >= info["given_test_from"]``), and the ``given`` split
(:mod:`ssl4rec.evaluation.splits`) takes it from there. No reference checksums are known here:
the computed sha256 is recorded and logged as unverified.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..registry import register_dataset
from .base import FileSpec, RawData
from .sequences import read_sequence_file

__all__ = ["GIVEN_TEST_FROM", "LIGHTGCN_FAMILY", "LightGCNSource", "read_lightgcn_pair"]

#: Position from which a row belongs to the given test partition (larger than any training line's length).
GIVEN_TEST_FROM = 1_000_000_000

_REPO = "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data"
_CITATION = "He et al., LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation, SIGIR 2020"


@dataclasses.dataclass(frozen=True)
class LightGCNSource:
    name: str
    folder: str
    title: str
    counts: str

    @property
    def files(self) -> list[FileSpec]:
        return [FileSpec(f"{self.folder}/{part}.txt", None, f"{_REPO}/{self.folder}/{part}.txt") for part in ("train", "test")]


LIGHTGCN_FAMILY = (
    LightGCNSource("gowalla", "gowalla", "Gowalla check-ins", "29,858 users / 40,981 items / 1,027,370 interactions"),
    LightGCNSource("yelp2018", "yelp2018", "Yelp 2018 challenge", "31,668 users / 38,048 items / 1,561,406 interactions"),
    LightGCNSource("amazon-book", "amazon-book", "Amazon Book", "52,643 users / 91,599 items / 2,984,108 interactions"),
)


def read_lightgcn_pair(train_path: Path, test_path: Path) -> pd.DataFrame:
    """Both files as (user, item, rating=1, timestamp) rows: training rows at their line position,
    test rows from :data:`GIVEN_TEST_FROM` on (so the partition survives preprocessing).

    Raises:
        DataError: naming the file, the 1-based line number and the offending line.
    """
    train = read_sequence_file(train_path)
    test = read_sequence_file(test_path)
    test["timestamp"] = test["timestamp"].to_numpy() + GIVEN_TEST_FROM
    return pd.concat([train, test], ignore_index=True)


def _make_loader(src: LightGCNSource) -> Callable[[Path], RawData]:
    def load(root: Path) -> RawData:
        train_file, test_file = (f.path for f in src.files)
        inter = read_lightgcn_pair(root / train_file, root / test_file)
        return RawData(
            interactions=inter,
            files=[train_file, test_file],
            has_timestamps=False,
            has_ratings=False,
            text_available=False,
            info={
                "timestamp_unit": "position in the user's line (test lines from given_test_from)",
                "given_test_from": GIVEN_TEST_FROM,
                "reference_counts": src.counts,
            },
        )

    load.__name__ = load.__qualname__ = "load_" + src.name.replace("-", "_")
    load.__module__ = __name__
    load.__doc__ = f"{src.title} as the LightGCN authors partitioned it (``{src.folder}/train.txt``, ``test.txt``)."
    return load


LOADERS: dict[str, Callable[[Path], RawData]] = {
    src.name: register_dataset(
        src.name,
        summary=f"{src.title}, LightGCN's train/test files ({src.counts}); use the 'given' split",
        files=src.files,
        url=f"{_REPO}/{src.folder}/",
        homepage="https://github.com/kuandeng/LightGCN",
        citation=_CITATION,
        tags=("graph", "implicit", "given-split"),
    )(_make_loader(src))
    for src in LIGHTGCN_FAMILY
}
