"""MovieLens (GroupLens): 100K (``u.data``), 1M (``::`` files) and the CSV builds (20M, 25M, latest).

Terms: research use; cite Harper & Konstan 2015; the 100K and 1M data may not be redistributed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from ..registry import ConfigError, register_dataset
from .base import DataError, FileSpec, RawData
from .parsing import read_table, split_title_year

__all__ = [
    "load_ml_100k",
    "load_ml_1m",
    "load_movielens_csv",
    "ML_1M_OCCUPATIONS",
    "ML_1M_AGES",
]

GROUPLENS = "https://files.grouplens.org/datasets/movielens"
CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. "
    "ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872"
)
HOMEPAGE = "https://grouplens.org/datasets/movielens/"

RATING_COLUMNS = (("user", "int"), ("item", "int"), ("rating", "float"), ("timestamp", "int"))
#: MovieLens ratings (0.5-5 or 1-5) and Unix timestamps are never negative.
NON_NEGATIVE = {"rating": 0.0, "timestamp": 0.0}

ML_100K_SHA256 = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
}
ML_LATEST_SMALL_SHA256 = {
    "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
    "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
    "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
}

# users.dat codes, from the ml-1m README
ML_1M_OCCUPATIONS = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)
ML_1M_AGES = {1: "Under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+"}


def _specs(folder: str, names: tuple[str, ...], sha: dict[str, str] | None = None) -> list[FileSpec]:
    url = f"{GROUPLENS}/{folder}.zip"
    return [FileSpec(f"{folder}/{n}", sha256=(sha or {}).get(n), url=url, member=f"{folder}/{n}") for n in names]


# ---------------------------------------------------------------- ml-100k
ML_100K_FILES = _specs("ml-100k", ("u.data", "u.item", "u.user", "u.genre"), ML_100K_SHA256)


def _read_genres(path: Path, encoding: str) -> list[str]:
    """``u.genre``: ``name|id`` lines; returns names ordered by id."""
    pairs = []
    with open(path, encoding=encoding) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            name, sep, idx = line.rpartition("|")
            if not sep or not idx.isdigit():
                raise DataError(f"{path}, line {lineno}: expected 'name|id': {line!r}")
            pairs.append((int(idx), name))
    pairs.sort()
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise DataError(f"{path}: genre ids should be 0..{len(pairs) - 1}, got {[i for i, _ in pairs]}")
    return [n for _, n in pairs]


def _genre_lists(flags: np.ndarray, names: list[str]) -> list[list[str]]:
    return [[names[j] for j in np.flatnonzero(row)] for row in flags]


@register_dataset(
    "ml-100k",
    summary="MovieLens 100K: 943 users, 1,682 movies, 100,000 ratings (1-5), 1997-98; titles, genres, demographics",
    files=ML_100K_FILES,
    url=f"{GROUPLENS}/ml-100k.zip",
    homepage=HOMEPAGE,
    citation=CITATION,
    tags=("movies", "explicit", "timestamps", "text", "user-features"),
    version="1",
)
def load_ml_100k(root: Path) -> RawData:
    """MovieLens 100K in the original GroupLens layout (``ml-100k/u.data``, ``u.item``, ``u.user``, ``u.genre``)."""
    d = root / "ml-100k"
    inter = read_table(d / "u.data", RATING_COLUMNS, sep="\t", quoting=csv.QUOTE_NONE, minimum=NON_NEGATIVE)
    genres = _read_genres(d / "u.genre", "latin-1")
    item_cols = [
        ("item", "int"),
        ("title", "str"),
        ("release_date", "str"),
        ("video_release_date", "str"),
        ("imdb_url", "str"),
    ] + [(f"g{j}", "int") for j in range(len(genres))]
    raw_items = read_table(d / "u.item", item_cols, sep="|", encoding="latin-1", quoting=csv.QUOTE_NONE)
    title, year = split_title_year(raw_items["title"])
    flags = raw_items[[f"g{j}" for j in range(len(genres))]].to_numpy()
    items = pd.DataFrame(
        {
            "title": title.to_numpy(),
            "year": year.array,
            "genres": _genre_lists(flags, genres),
            "release_date": raw_items["release_date"].to_numpy(),
            "imdb_url": raw_items["imdb_url"].to_numpy(),
        },
        index=pd.Index(raw_items["item"].to_numpy(), name="item"),
    )
    users = read_table(
        d / "u.user",
        [("user", "int"), ("age", "int"), ("gender", "str"), ("occupation", "str"), ("zip", "str")],
        sep="|",
        encoding="latin-1",
        quoting=csv.QUOTE_NONE,
    ).set_index("user")
    return RawData(
        interactions=inter,
        items=items,
        users=users,
        files=[f"ml-100k/{n}" for n in ("u.data", "u.item", "u.user", "u.genre")],
    )


# ---------------------------------------------------------------- ml-1m
ML_1M_FILES = _specs("ml-1m", ("ratings.dat", "movies.dat", "users.dat"))


@register_dataset(
    "ml-1m",
    summary="MovieLens 1M: 6,040 users, 3,706 rated movies, 1,000,209 ratings (1-5), 2000-03; titles, genres, demographics",
    files=ML_1M_FILES,
    url=f"{GROUPLENS}/ml-1m.zip",
    homepage=HOMEPAGE,
    citation=CITATION,
    tags=("movies", "explicit", "timestamps", "text", "user-features"),
    version="1",
)
def load_ml_1m(root: Path) -> RawData:
    """MovieLens 1M (``ml-1m/ratings.dat``, ``movies.dat``, ``users.dat``; ``::``-separated, latin-1)."""
    d = root / "ml-1m"
    inter = read_table(d / "ratings.dat", RATING_COLUMNS, sep="::", encoding="latin-1", minimum=NON_NEGATIVE)
    movies = read_table(
        d / "movies.dat", [("item", "int"), ("title", "str"), ("genres", "str")], sep="::", encoding="latin-1"
    )
    title, year = split_title_year(movies["title"])
    items = pd.DataFrame(
        {"title": title.to_numpy(), "year": year.array, "genres": _split_genres(movies["genres"])},
        index=pd.Index(movies["item"].to_numpy(), name="item"),
    )
    users = read_table(
        d / "users.dat",
        [("user", "int"), ("gender", "str"), ("age", "int"), ("occupation_code", "int"), ("zip", "str")],
        sep="::",
        encoding="latin-1",
    )
    occ = users["occupation_code"].to_numpy()
    names = np.asarray(ML_1M_OCCUPATIONS, dtype=object)
    users["occupation"] = np.where((occ >= 0) & (occ < len(names)), names[np.clip(occ, 0, len(names) - 1)], "")
    users["age_group"] = users["age"].map(ML_1M_AGES).fillna("")
    users = users.set_index("user")
    return RawData(
        interactions=inter,
        items=items,
        users=users,
        files=[f"ml-1m/{n}" for n in ("ratings.dat", "movies.dat", "users.dat")],
    )


# ---------------------------------------------------------------- CSV builds
NO_GENRES = "(no genres listed)"


def _split_genres(genres: pd.Series) -> list[list[str]]:
    return [[g for g in s.split("|") if g and g != NO_GENRES] for s in genres.tolist()]


def _tag_table(path: Path, max_tags: int) -> pd.DataFrame:
    """Per-item most frequent tags (case-folded), most frequent first, with their counts."""
    tags = read_table(
        path,
        [("user", "int"), ("item", "int"), ("tag", "str"), ("timestamp", "int")],
        sep=",",
        header=["userId", "movieId", "tag", "timestamp"],
    )
    tag = tags["tag"].str.strip().str.lower()
    counted = (
        pd.DataFrame({"item": tags["item"].to_numpy(), "tag": tag.to_numpy()})[tag.to_numpy() != ""]
        .groupby(["item", "tag"], sort=False)
        .size()
        .reset_index(name="n")
        .sort_values(["item", "n", "tag"], ascending=[True, False, True], kind="stable")
    )
    if max_tags is not None:
        counted = counted.groupby("item", sort=False).head(max_tags)
    grouped = counted.groupby("item", sort=True)
    return pd.DataFrame({"tags": grouped["tag"].agg(list), "tag_counts": grouped["n"].agg(list)})


def _csv_files(folder: str, sha: dict[str, str] | None = None) -> list[FileSpec]:
    return _specs(folder, ("ratings.csv", "movies.csv", "tags.csv"), sha)


def load_movielens_csv(root: Path, folder: str, max_tags: int = 10) -> RawData:
    """A MovieLens CSV build (``ratings.csv``, ``movies.csv``, ``tags.csv`` with headers, UTF-8).

    Items get ``title``, ``year``, ``genres`` and ``tags`` (the ``max_tags`` most frequent tags,
    case-folded, most frequent first; ``tag_counts`` holds their counts).
    """
    if not isinstance(max_tags, int) or isinstance(max_tags, bool) or max_tags < 0:
        raise ConfigError(f"max_tags must be a non-negative integer, got {max_tags!r}")
    d = root / folder
    inter = read_table(
        d / "ratings.csv",
        RATING_COLUMNS,
        sep=",",
        header=["userId", "movieId", "rating", "timestamp"],
        minimum=NON_NEGATIVE,
    )
    movies = read_table(
        d / "movies.csv",
        [("item", "int"), ("title", "str"), ("genres", "str")],
        sep=",",
        header=["movieId", "title", "genres"],
    )
    title, year = split_title_year(movies["title"])
    items = pd.DataFrame(
        {"title": title.to_numpy(), "year": year.array, "genres": _split_genres(movies["genres"])},
        index=pd.Index(movies["item"].to_numpy(), name="item"),
    )
    tag_table = _tag_table(d / "tags.csv", max_tags)
    items = items.join(tag_table, how="left")
    no_tags = items["tags"].isna().to_numpy()
    items["tags"] = [[] if m else v for v, m in zip(items["tags"].tolist(), no_tags, strict=True)]
    items["tag_counts"] = [[] if m else v for v, m in zip(items["tag_counts"].tolist(), no_tags, strict=True)]
    return RawData(
        interactions=inter,
        items=items,
        users=None,
        files=[f"{folder}/{n}" for n in ("ratings.csv", "movies.csv", "tags.csv")],
        info={"max_tags": max_tags},
    )


def _register_csv(name: str, summary: str, sha: dict[str, str] | None = None, tags: tuple[str, ...] = ()) -> None:
    def load(root: Path, max_tags: int = 10) -> RawData:
        return load_movielens_csv(root, name, max_tags=max_tags)

    load.__name__ = load.__qualname__ = "load_" + name.replace("-", "_")
    load.__doc__ = f"MovieLens {name} (CSV build in ``{name}/``); see :func:`load_movielens_csv`."
    register_dataset(
        name,
        summary=summary,
        files=_csv_files(name, sha),
        url=f"{GROUPLENS}/{name}.zip",
        homepage=HOMEPAGE,
        citation=CITATION,
        tags=("movies", "explicit", "timestamps", "text", *tags),
        version="1",
    )(load)


_register_csv(
    "ml-latest-small",
    "MovieLens latest-small (2018 build): 610 users, 9,724 rated movies, 100,836 half-star ratings; titles, genres, tags",
    ML_LATEST_SMALL_SHA256,
)
_register_csv(
    "ml-20m", "MovieLens 20M: 138,493 users, 26,744 movies, 20,000,263 half-star ratings (1995-2015)", tags=("large",)
)
_register_csv(
    "ml-25m", "MovieLens 25M: 162,541 users, 59,047 movies, 25,000,095 half-star ratings (1995-2019)", tags=("large",)
)
_register_csv(
    "ml-latest", "MovieLens latest (full, rebuilt periodically: counts change between builds)", tags=("large",)
)
