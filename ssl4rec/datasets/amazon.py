"""Amazon review data (McAuley lab): 2014 rating CSVs, 2018 5-core JSON lines, 2023 JSONL.

Item text fields kept: ``title``, ``brand`` (2023: ``store``), ``categories`` (list),
``description`` (joined, HTML tags and entities removed) and, for 2023, ``features``; the image
addresses are kept in ``image_urls`` (not fetched: embed them elsewhere and attach the vectors with
``item_features: {image: FILE}``).
Timestamps are unix seconds (the 2023 milliseconds are floored to seconds).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..registry import register_dataset
from .base import DataError, FileSpec, RawData, check_category
from .parsing import clean_list, clean_text, read_json_lines, read_table, require

logger = logging.getLogger(__name__)

__all__ = [
    "AMAZON2018_CATEGORIES",
    "AMAZON2023_CATEGORIES",
    "load_amazon2018",
    "load_amazon2014_csv",
    "load_amazon2023",
]

# ------------------------------------------------------------------ 2018
AMAZON2018_CATEGORIES = (
    "AMAZON_FASHION",
    "All_Beauty",
    "Appliances",
    "Arts_Crafts_and_Sewing",
    "Automotive",
    "Books",
    "CDs_and_Vinyl",
    "Cell_Phones_and_Accessories",
    "Clothing_Shoes_and_Jewelry",
    "Digital_Music",
    "Electronics",
    "Gift_Cards",
    "Grocery_and_Gourmet_Food",
    "Home_and_Kitchen",
    "Industrial_and_Scientific",
    "Kindle_Store",
    "Luxury_Beauty",
    "Magazine_Subscriptions",
    "Movies_and_TV",
    "Musical_Instruments",
    "Office_Products",
    "Patio_Lawn_and_Garden",
    "Pet_Supplies",
    "Prime_Pantry",
    "Software",
    "Sports_and_Outdoors",
    "Tools_and_Home_Improvement",
    "Toys_and_Games",
    "Video_Games",
)
AMAZON2018_BASE = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2"
AMAZON2018_HOMEPAGE = "https://nijianmo.github.io/amazon/index.html"
AMAZON2018_CITATION = (
    "Jianmo Ni, Jiacheng Li, Julian McAuley. 2019. Justifying Recommendations using Distantly-Labeled Reviews "
    "and Fine-Grained Aspects. EMNLP-IJCNLP 2019."
)
AMAZON2018_SHA256 = {
    "Gift_Cards_5.json.gz": "41e1f0e50d3c1c9d7d949fb6315944c8bde51ea6b7429a29fdd0d02cbc07ef25",
    "meta_Gift_Cards.json.gz": "24ac90af3eb47d9c04458a61a44a76a882419190e027c6ec14ee0a993549c34a",
}


def _normalizer(known: tuple[str, ...], what: str):
    """Params hook: validate ``category`` and give it the spelling of the file names."""

    def normalize(params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "category": check_category(params["category"], known, what)}

    return normalize


def amazon2018_files(category: str) -> list[FileSpec]:
    """Review (5-core) and metadata files of an Amazon 2018 category."""
    cat = check_category(category, AMAZON2018_CATEGORIES, "amazon2018")
    folder = f"amazon2018_{cat.lower()}"
    reviews, meta = f"{cat}_5.json.gz", f"meta_{cat}.json.gz"
    return [
        FileSpec(
            f"{folder}/{reviews}",
            sha256=AMAZON2018_SHA256.get(reviews),
            url=f"{AMAZON2018_BASE}/categoryFilesSmall/{reviews}",
        ),
        FileSpec(f"{folder}/{meta}", sha256=AMAZON2018_SHA256.get(meta), url=f"{AMAZON2018_BASE}/metaFiles2/{meta}"),
    ]


def _reviews(path: Path, user_key: str, item_key: str, rating_key: str, time_key: str) -> pd.DataFrame:
    users: list[str] = []
    items: list[str] = []
    ratings: list[float] = []
    times: list[int] = []
    for lineno, obj in read_json_lines(path):
        users.append(require(obj, user_key, "str", path, lineno))
        items.append(require(obj, item_key, "str", path, lineno))
        ratings.append(float(require(obj, rating_key, "number", path, lineno)))
        times.append(require(obj, time_key, "int", path, lineno))
    return pd.DataFrame(
        {
            "user": np.array(users, dtype=object),
            "item": np.array(items, dtype=object),
            "rating": np.asarray(ratings, dtype=np.float64),
            "timestamp": np.asarray(times, dtype=np.int64),
        }
    )


def _meta_2018(path: Path, wanted: set[str]) -> tuple[pd.DataFrame, int]:
    """Metadata of the ``wanted`` products; also returns how many other products were skipped."""
    rows: dict[str, dict[str, Any]] = {}
    skipped: set[str] = set()
    for lineno, obj in read_json_lines(path):
        asin = require(obj, "asin", "str", path, lineno)
        if asin not in wanted:
            skipped.add(asin)
            continue
        if asin in rows:  # keep the first record of duplicated products
            continue
        rows[asin] = {
            "title": clean_text(obj.get("title")),
            "brand": clean_text(obj.get("brand")),
            "categories": clean_list(obj.get("category")),
            "description": clean_text(obj.get("description")),
            "image_urls": image_urls(obj.get("imageURLHighRes") or obj.get("imageURL")),
        }
    return _meta_frame(rows, ("title", "brand", "categories", "description", "image_urls")), len(skipped)


def image_urls(value: Any) -> list[str]:
    """The product's image addresses, kept so a user can fetch and embed them (ssl4rec downloads none):
    2018's ``imageURLHighRes`` / ``imageURL`` (lists of strings), 2023's ``images`` (dicts with
    ``hi_res`` / ``large`` / ``thumb``: the largest present). Distinct http(s) addresses, in order."""
    out: list[str] = []
    for entry in value if isinstance(value, list) else []:
        v = entry
        if isinstance(entry, dict):
            v = next((entry[k] for k in ("hi_res", "large", "thumb") if isinstance(entry.get(k), str) and entry[k]), None)
        if isinstance(v, str) and v.startswith(("http://", "https://")) and v not in out:
            out.append(v)
    return out


def _meta_frame(rows: dict[str, dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = (
        pd.DataFrame.from_dict(rows, orient="index", columns=list(columns))
        if rows
        else pd.DataFrame(columns=list(columns))
    )
    frame.index = pd.Index(frame.index.astype(object), name="item")
    return frame


def load_amazon2018(root: Path, category: str) -> RawData:
    """Amazon 2018 5-core reviews ``<Category>_5.json.gz`` and metadata ``meta_<Category>.json.gz``.

    Files live in ``amazon2018_<category lowercased>/``. rating = ``overall``, timestamp =
    ``unixReviewTime``, user = ``reviewerID``, item = ``asin``.
    """
    reviews_spec, meta_spec = amazon2018_files(category)
    reviews = _reviews(root / reviews_spec.path, "reviewerID", "asin", "overall", "unixReviewTime")
    items, skipped = _meta_2018(root / meta_spec.path, set(reviews["item"].unique()))
    return RawData(
        interactions=reviews,
        items=items,
        users=None,
        files=[reviews_spec.path, meta_spec.path],
        items_skipped=skipped,
        info={"category": reviews_spec.path.split("/")[-1].removesuffix("_5.json.gz")},
    )


register_dataset(
    "amazon2018",
    normalize_params=_normalizer(AMAZON2018_CATEGORIES, "amazon2018"),
    summary="Amazon Review Data (2018), one category's 5-core reviews + metadata (param category, e.g. 'Gift_Cards')",
    files=amazon2018_files,
    url=f"{AMAZON2018_BASE}/categoryFilesSmall/",
    homepage=AMAZON2018_HOMEPAGE,
    citation=AMAZON2018_CITATION,
    tags=("e-commerce", "explicit", "timestamps", "text"),
    params_help={"category": "category as in the file names, e.g. 'Gift_Cards', 'Video_Games'"},
    version="1",
)(load_amazon2018)


@register_dataset(
    "amazon2018-gift-cards",
    summary="Amazon 2018 Gift Cards 5-core: 458 users, 148 items, 2,972 reviews (7 repeated pairs); titles, brands",
    files=amazon2018_files("Gift_Cards"),
    url=f"{AMAZON2018_BASE}/categoryFilesSmall/Gift_Cards_5.json.gz",
    homepage=AMAZON2018_HOMEPAGE,
    citation=AMAZON2018_CITATION,
    tags=("e-commerce", "explicit", "timestamps", "text", "small"),
    version="1",
)
def load_amazon2018_gift_cards(root: Path) -> RawData:
    """Amazon 2018 Gift Cards (``amazon2018`` with ``category='Gift_Cards'``)."""
    return load_amazon2018(root, "Gift_Cards")


# ------------------------------------------------------------------ 2014 ratings-only CSV
AMAZON2014_BASE = "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles"
AMAZON2014_CATEGORIES = (
    "Amazon_Instant_Video",
    "Apps_for_Android",
    "Automotive",
    "Baby",
    "Beauty",
    "Books",
    "CDs_and_Vinyl",
    "Cell_Phones_and_Accessories",
    "Clothing_Shoes_and_Jewelry",
    "Digital_Music",
    "Electronics",
    "Grocery_and_Gourmet_Food",
    "Health_and_Personal_Care",
    "Home_and_Kitchen",
    "Kindle_Store",
    "Movies_and_TV",
    "Musical_Instruments",
    "Office_Products",
    "Patio_Lawn_and_Garden",
    "Pet_Supplies",
    "Sports_and_Outdoors",
    "Tools_and_Home_Improvement",
    "Toys_and_Games",
    "Video_Games",
)


def amazon2014_csv_files(category: str) -> list[FileSpec]:
    cat = check_category(category, AMAZON2014_CATEGORIES, "amazon2014-csv")
    name = f"ratings_{cat}.csv"
    return [FileSpec(f"amazon2014_{cat.lower()}/{name}", url=f"{AMAZON2014_BASE}/{name}")]


def load_amazon2014_csv(root: Path, category: str) -> RawData:
    """Amazon 2014 ratings-only CSV ``ratings_<Category>.csv`` (no header: user,item,rating,timestamp)."""
    (spec,) = amazon2014_csv_files(category)
    inter = read_table(
        root / spec.path,
        [("user", "str"), ("item", "str"), ("rating", "float"), ("timestamp", "int")],
        sep=",",
        quoting=csv.QUOTE_NONE,
        minimum={"rating": 0.0, "timestamp": 0.0},  # 1-5 stars, Unix time
    )
    return RawData(interactions=inter, files=[spec.path], text_available=False)


register_dataset(
    "amazon2014-csv",
    normalize_params=_normalizer(AMAZON2014_CATEGORIES, "amazon2014-csv"),
    summary="Amazon 2014 ratings-only CSV of one category (param category, e.g. 'Beauty'); no item text",
    files=amazon2014_csv_files,
    url=f"{AMAZON2014_BASE}/",
    homepage="https://cseweb.ucsd.edu/~jmcauley/datasets/amazon/links.html",
    citation="Ruining He, Julian McAuley. 2016. Ups and Downs: Modeling the Visual Evolution of Fashion Trends "
    "with One-Class Collaborative Filtering. WWW 2016. Julian McAuley et al. 2015. Image-based "
    "Recommendations on Styles and Substitutes. SIGIR 2015.",
    tags=("e-commerce", "explicit", "timestamps"),
    params_help={"category": "category as in the file names, e.g. 'Beauty', 'Video_Games'"},
    version="1",
)(load_amazon2014_csv)


# ------------------------------------------------------------------ 2023 JSONL
AMAZON2023_BASE = "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023/raw"
AMAZON2023_CATEGORIES = (
    "All_Beauty",
    "Amazon_Fashion",
    "Appliances",
    "Arts_Crafts_and_Sewing",
    "Automotive",
    "Baby_Products",
    "Beauty_and_Personal_Care",
    "Books",
    "CDs_and_Vinyl",
    "Cell_Phones_and_Accessories",
    "Clothing_Shoes_and_Jewelry",
    "Digital_Music",
    "Electronics",
    "Gift_Cards",
    "Grocery_and_Gourmet_Food",
    "Handmade_Products",
    "Health_and_Household",
    "Health_and_Personal_Care",
    "Home_and_Kitchen",
    "Industrial_and_Scientific",
    "Kindle_Store",
    "Magazine_Subscriptions",
    "Movies_and_TV",
    "Musical_Instruments",
    "Office_Products",
    "Patio_Lawn_and_Garden",
    "Pet_Supplies",
    "Software",
    "Sports_and_Outdoors",
    "Subscription_Boxes",
    "Tools_and_Home_Improvement",
    "Toys_and_Games",
    "Video_Games",
    "Unknown",
)


def amazon2023_files(category: str) -> list[FileSpec]:
    """Reviews ``<Category>.jsonl.gz`` and metadata ``meta_<Category>.jsonl.gz`` (uncompressed ``.jsonl`` ok)."""
    cat = check_category(category, AMAZON2023_CATEGORIES, "amazon2023")
    folder = f"amazon2023_{cat.lower()}"
    return [
        FileSpec(
            f"{folder}/{cat}.jsonl.gz",
            url=f"{AMAZON2023_BASE}/review_categories/{cat}.jsonl.gz",
            alternatives=(f"{folder}/{cat}.jsonl",),
        ),
        FileSpec(
            f"{folder}/meta_{cat}.jsonl.gz",
            url=f"{AMAZON2023_BASE}/meta_categories/meta_{cat}.jsonl.gz",
            alternatives=(f"{folder}/meta_{cat}.jsonl",),
        ),
    ]


def _meta_2023(path: Path, wanted: set[str]) -> tuple[pd.DataFrame, int]:
    rows: dict[str, dict[str, Any]] = {}
    skipped: set[str] = set()
    for lineno, obj in read_json_lines(path):
        pid = require(obj, "parent_asin", "str", path, lineno)
        if pid not in wanted:
            skipped.add(pid)
            continue
        if pid in rows:
            continue
        rows[pid] = {
            "title": clean_text(obj.get("title")),
            "brand": clean_text(obj.get("store")),
            "categories": clean_list(obj.get("categories")),
            "description": clean_text(obj.get("description")),
            "features": clean_list(obj.get("features")),
            "main_category": clean_text(obj.get("main_category")),
            "image_urls": image_urls(obj.get("images")),
        }
    columns = ("title", "brand", "categories", "description", "features", "main_category", "image_urls")
    return _meta_frame(rows, columns), len(skipped)


def load_amazon2023(root: Path, category: str) -> RawData:
    """Amazon Reviews 2023 (``<Category>.jsonl(.gz)`` + ``meta_<Category>.jsonl(.gz)``).

    Items are ``parent_asin`` (product, not variant); user = ``user_id``; rating = ``rating``;
    timestamp = ``timestamp`` in milliseconds, floored to seconds (ties keep file order).
    """
    review_spec, meta_spec = amazon2023_files(category)
    review_path = review_spec.locate(root)
    meta_path = meta_spec.locate(root)
    if review_path is None or meta_path is None:
        raise DataError(f"amazon2023: {review_spec.path} or {meta_spec.path} not found under {root}")
    reviews = _reviews(review_path, "user_id", "parent_asin", "rating", "timestamp")
    reviews["timestamp"] = reviews["timestamp"].to_numpy() // 1000
    items, skipped = _meta_2023(meta_path, set(reviews["item"].unique()))
    return RawData(
        interactions=reviews,
        items=items,
        users=None,
        files=[review_path.relative_to(root).as_posix(), meta_path.relative_to(root).as_posix()],
        items_skipped=skipped,
        info={"timestamp_unit": "s (source: ms, floored)"},
    )


register_dataset(
    "amazon2023",
    normalize_params=_normalizer(AMAZON2023_CATEGORIES, "amazon2023"),
    summary="Amazon Reviews 2023, one category's reviews + metadata (param category, e.g. 'All_Beauty'); items = parent_asin",
    files=amazon2023_files,
    url=f"{AMAZON2023_BASE}/review_categories/",
    homepage="https://amazon-reviews-2023.github.io/",
    citation="Yupeng Hou, Jiacheng Li, Zhankui He, An Yan, Xiusi Chen, Julian McAuley. 2024. Bridging Language "
    "and Items for Retrieval and Recommendation. arXiv:2403.03952.",
    tags=("e-commerce", "explicit", "timestamps", "text"),
    params_help={"category": "category as in the file names, e.g. 'All_Beauty', 'Video_Games'"},
    version="1",
)(load_amazon2023)
