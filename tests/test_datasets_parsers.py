"""Parsers on small files written in each source's exact official format, and malformed-line errors."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ssl4rec.datasets import DataError, load_dataset
from ssl4rec.datasets import download as ddownload
from ssl4rec.datasets.parsing import clean_text, split_title_year


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def offline(url, dest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(ddownload, "fetch", offline)


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content if isinstance(content, bytes) else content.encode(encoding)
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def assert_located(err: pytest.ExceptionInfo, path: Path, lineno: int, fragment: str) -> None:
    msg = str(err.value)
    assert str(path) in msg, msg
    assert re.search(rf"\bline {lineno}\b", msg), msg
    assert fragment in msg, msg


# ---------------------------------------------------------------- MovieLens 100K layout

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def flags(*names: str) -> str:
    return "|".join("1" if g in names else "0" for g in GENRES)


def write_ml100k(root: Path, u_data: str | None = None) -> Path:
    d = root / "ml-100k"
    write(
        d / "u.data",
        u_data if u_data is not None else "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n",
    )
    write(
        d / "u.item",
        f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|{flags('Comedy')}\n"
        f"302|L.A. Confidential (1997)|01-Jan-1997||http://x|{flags('Crime', 'Film-Noir', 'Mystery', 'Thriller')}\n"
        f"303|Misérables, Les (1995)|01-Jan-1995||http://x|{flags('Drama')}\n"
        f"267|unknown||||{flags('unknown')}\n",
        encoding="latin-1",
    )
    write(d / "u.user", "186|39|F|executive|00000\n196|49|M|writer|55105\n")
    write(d / "u.genre", "".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)) + "\n")
    return root


def test_ml100k_format(tmp_path):
    ds = load_dataset("ml-100k", data_dir=write_ml100k(tmp_path))
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 2, 3)
    assert ds.users["raw_id"].tolist() == [186, 196]
    assert ds.users["zip"].tolist() == ["00000", "55105"]  # zip codes stay text
    lac = ds.items.iloc[1]
    assert (lac["raw_id"], lac["title"], lac["year"]) == (302, "L.A. Confidential", 1997)
    assert lac["genres"] == ["Crime", "Film-Noir", "Mystery", "Thriller"]
    assert ds.info["items_dropped_without_interactions"] == 2
    assert ds.info["source_verified"]["ml-100k/u.data"] is False  # not the reference copy


@pytest.mark.parametrize(
    "u_data, lineno, fragment",
    [
        ("196\t242\t3\t881250949\n186\t302\t3\n", 2, "expected 4 tab-separated fields"),
        ("196\t242\t3\t881250949\n\n186\t302\t3\t891717742\t7\n", 3, "found 5"),
        ("196\t242\t3\t881250949\n186\t302\tfive\t891717742\n", 2, "field 'rating' is not a number: 'five'"),
        ("196\t242\t3\t881250949\nabc\t302\t3\t891717742\n", 2, "field 'user' is not an integer"),
        ("196 242 3 881250949\n", 1, "found 1"),
        ("196\t242\t3\t881250949\t0\n186\t302\t3\t891717742\n", 1, "found 5"),
        ("196\t242\tnan\t881250949\n", 1, "not a finite number"),
    ],
)
def test_ml100k_malformed_line(tmp_path, u_data, lineno, fragment):
    write_ml100k(tmp_path, u_data)
    with pytest.raises(DataError) as err:
        load_dataset("ml-100k", data_dir=tmp_path)
    assert_located(err, tmp_path / "ml-100k" / "u.data", lineno, fragment)
    assert repr(u_data.split("\n")[lineno - 1]) in str(err.value)  # the offending line is shown


# ---------------------------------------------------------------- MovieLens 1M

ML_1M_RATINGS = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n2::3408::4::978298152\n"
ML_1M_MOVIES = (
    "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
    "3408::Erin Brockovich (2000)::Drama\n"
    "3952::Contender, The (2000)::Drama|Thriller\n"
    "3270::Cutting Edge, The (1992)::Drama\n"
    "73::Misérables, Les (1995)::Drama|Musical\n"
)
ML_1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"


def write_ml1m(root: Path, ratings: str = ML_1M_RATINGS) -> Path:
    write(root / "ml-1m" / "ratings.dat", ratings)
    write(root / "ml-1m" / "movies.dat", ML_1M_MOVIES, encoding="latin-1")
    write(root / "ml-1m" / "users.dat", ML_1M_USERS)
    return root


def test_ml1m_format(tmp_path):
    ds = load_dataset("ml-1m", data_dir=write_ml1m(tmp_path))
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 3, 4)
    assert ds.items["raw_id"].tolist() == [661, 1193, 3408]
    assert ds.items["title"].tolist() == [
        "James and the Giant Peach",
        "One Flew Over the Cuckoo's Nest",
        "Erin Brockovich",
    ]
    assert ds.items["year"].tolist() == [1996, 1975, 2000]
    assert ds.items["genres"].iloc[0] == ["Animation", "Children's", "Musical"]
    u = ds.users.set_index("raw_id")
    assert u.loc[1, "occupation"] == "K-12 student" and u.loc[1, "age_group"] == "Under 18"
    assert u.loc[2, "occupation"] == "self-employed" and u.loc[2, "gender"] == "M"
    assert ds.interactions["timestamp"].dtype == np.int64


def test_ml1m_latin1_titles(tmp_path):
    write_ml1m(tmp_path, ML_1M_RATINGS + "2::73::2::978298000\n")
    ds = load_dataset("ml-1m", data_dir=tmp_path)
    assert "Misérables, Les" in ds.items["title"].tolist()


@pytest.mark.parametrize(
    "ratings, lineno, fragment",
    [
        ("1::1193::5::978300760\n1::661::3\n", 2, "expected 4 '::'-separated fields"),
        ("1::1193::5::978300760\n1::661::x::978302109\n", 2, "field 'rating' is not a number"),
        ("1::1193::5::978300760\n1:661::3::978302109\n", 2, "found 3"),
    ],
)
def test_ml1m_malformed_line(tmp_path, ratings, lineno, fragment):
    write_ml1m(tmp_path, ratings)
    with pytest.raises(DataError) as err:
        load_dataset("ml-1m", data_dir=tmp_path)
    assert_located(err, tmp_path / "ml-1m" / "ratings.dat", lineno, fragment)


# ---------------------------------------------------------------- MovieLens CSV builds (20M format)

ML_CSV_RATINGS = "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5,1112484676\n2,2,4.0,974820889\n2,131260,0.5,974820691\n"
ML_CSV_MOVIES = (
    "movieId,title,genres\n"
    "2,Jumanji (1995),Adventure|Children|Fantasy\n"
    '11,"American President, The (1995)",Comedy|Drama|Romance\n'
    '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama|Fantasy|Mystery|Sci-Fi\n'
    "131260,Rentun Ruusu (2001),(no genres listed)\n"
)
ML_CSV_TAGS = (
    "userId,movieId,tag,timestamp\n"
    "18,2,Robin Williams,1240597180\n"
    "65,2,robin williams,1368150078\n"
    "65,2,board game,1368150079\n"
    '96,29,"dark, surreal",1335587888\n'
    "18,29,visually appealing,1240597181\n"
    "12,29,visually appealing,1240597182\n"
)


def write_ml_csv(root: Path, folder: str, ratings: str = ML_CSV_RATINGS) -> Path:
    write(root / folder / "ratings.csv", ratings)
    write(root / folder / "movies.csv", ML_CSV_MOVIES)
    write(root / folder / "tags.csv", ML_CSV_TAGS)
    return root


@pytest.mark.parametrize("name", ["ml-20m", "ml-25m", "ml-latest"])
def test_movielens_csv_format(tmp_path, name):
    ds = load_dataset(name, data_dir=write_ml_csv(tmp_path, name))
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 3, 4)
    items = ds.items.set_index("raw_id")
    assert items.loc[29, "title"] == "City of Lost Children, The (Cité des enfants perdus, La)"
    assert items.loc[29, "year"] == 1995
    assert items.loc[131260, "genres"] == []
    assert items.loc[2, "tags"] == ["robin williams", "board game"] and items.loc[2, "tag_counts"] == [2, 1]
    assert items.loc[29, "tags"] == ["visually appealing", "dark, surreal"]
    assert items.loc[131260, "tags"] == []
    assert ds.interactions["rating"].min() == pytest.approx(0.5)
    assert ds.info["items_dropped_without_interactions"] == 1  # movie 11 was never rated


def test_movielens_csv_max_tags(tmp_path):
    ds = load_dataset("ml-20m", data_dir=write_ml_csv(tmp_path, "ml-20m"), max_tags=1)
    assert ds.items.set_index("raw_id").loc[2, "tags"] == ["robin williams"]


@pytest.mark.parametrize(
    "ratings, lineno, fragment",
    [
        ("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5\n", 3, "expected 4 comma-separated fields"),
        ("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,x29,3.5,1\n", 3, "field 'item' is not an integer"),
        ("user,movie,rating,timestamp\n1,2,3.5,1112486027\n", 1, "expected the header"),
    ],
)
def test_movielens_csv_malformed_line(tmp_path, ratings, lineno, fragment):
    write_ml_csv(tmp_path, "ml-20m", ratings)
    with pytest.raises(DataError) as err:
        load_dataset("ml-20m", data_dir=tmp_path)
    assert_located(err, tmp_path / "ml-20m" / "ratings.csv", lineno, fragment)


# ---------------------------------------------------------------- S3-Rec sequence files


def write_beauty(root: Path, seq: str) -> Path:
    write(root / "s3rec" / "Beauty.txt", seq)
    write(root / "s3rec" / "Beauty_item2attributes.json", json.dumps({"1": [1, 2], "2": [3], "3": [], "4": [5]}))
    return root


@pytest.mark.parametrize(
    "seq, lineno, fragment",
    [
        ("1 1 2 3\n2 2 x 3\n", 2, "item id (token 3) is not an integer: 'x'"),
        ("1 1 2 3\n2\n3 1 2\n", 2, "a user with no items"),
        ("1 1 2 3\n2 2 3\n1 3 1\n", 3, "already has a sequence on line 1"),
    ],
)
def test_sequence_file_malformed_line(tmp_path, seq, lineno, fragment):
    write_beauty(tmp_path, seq)
    with pytest.raises(DataError) as err:
        load_dataset("amazon-beauty", data_dir=tmp_path)
    assert_located(err, tmp_path / "s3rec" / "Beauty.txt", lineno, fragment)


def test_sequence_file_positions(tmp_path):
    write_beauty(tmp_path, "1 3 1 2\n2 2 3\n")
    ds = load_dataset("amazon-beauty", data_dir=tmp_path)
    assert ds.info["has_timestamps"] is False
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [
        [0, 2, 0], [0, 0, 1], [0, 1, 2], [1, 1, 0], [1, 2, 1],
    ]  # fmt: skip
    assert ds.items["attributes"].tolist() == [[1, 2], [3], []]
    assert ds.info["items_dropped_without_interactions"] == 1
    ds2 = load_dataset("amazon-beauty", data_dir=tmp_path, preprocessing={"implicit_threshold": 4})
    assert ds2.info["preprocessing"][1]["skipped"] == "source has no ratings"


def test_item_attributes_bad_json(tmp_path):
    write_beauty(tmp_path, "1 1 2\n")
    write(tmp_path / "s3rec" / "Beauty_item2attributes.json", '{"1": [1, 2],\n "2": [3}')
    with pytest.raises(DataError) as err:
        load_dataset("amazon-beauty", data_dir=tmp_path)
    assert_located(err, tmp_path / "s3rec" / "Beauty_item2attributes.json", 2, "not valid JSON")


# ---------------------------------------------------------------- Amazon 2018 JSON lines

REVIEW_2018 = {
    "overall": 5.0,
    "verified": True,
    "reviewTime": "06 17, 2018",
    "reviewerID": "A31UBHTUUIFJUT",
    "asin": "B004LLIKVU",
    "style": {"Gift Amount:": " 50"},
    "reviewerName": "john",
    "reviewText": "Another great gift.",
    "summary": "Five Stars",
    "unixReviewTime": 1529193600,
}


def write_amazon2018(root: Path, reviews: str) -> Path:
    d = root / "amazon2018_video_games"
    write(d / "Video_Games_5.json.gz", reviews)
    meta = {
        "asin": "B004LLIKVU",
        "title": " Game &amp; <i>Watch</i> ",
        "brand": "Nintendo",
        "category": ["Video Games"],
    }
    write(d / "meta_Video_Games.json.gz", json.dumps(meta) + "\n")
    return root


def test_amazon2018_format(tmp_path):
    second = {**REVIEW_2018, "reviewerID": "B2", "overall": 3.0, "unixReviewTime": 1529193700}
    write_amazon2018(tmp_path, json.dumps(REVIEW_2018) + "\n" + json.dumps(second) + "\n")
    ds = load_dataset("amazon2018", category="Video_Games", data_dir=tmp_path)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 1, 2)
    assert ds.items["title"].tolist() == ["Game & Watch"]
    assert ds.items["brand"].tolist() == ["Nintendo"]
    assert sorted(ds.interactions["rating"].tolist()) == pytest.approx([3.0, 5.0])


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ('{"overall": 5.0, "reviewerID": "X", "asin": ', "not valid JSON"),
        (json.dumps({k: v for k, v in REVIEW_2018.items() if k != "overall"}), "missing field 'overall'"),
        (json.dumps({**REVIEW_2018, "overall": "great"}), "field 'overall' should be a number"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_amazon2018_malformed_line(tmp_path, bad, fragment):
    write_amazon2018(tmp_path, json.dumps(REVIEW_2018) + "\n\n" + bad + "\n")
    with pytest.raises(DataError) as err:
        load_dataset("amazon2018", category="Video_Games", data_dir=tmp_path)
    assert_located(err, tmp_path / "amazon2018_video_games" / "Video_Games_5.json.gz", 3, fragment)


# ---------------------------------------------------------------- Amazon 2014 ratings CSV


def test_amazon2014_csv_format(tmp_path):
    write(
        tmp_path / "amazon2014_beauty" / "ratings_Beauty.csv",
        "A39HTATAQ9V7YF,0205616461,5.0,1369699200\n"
        "A3JM6GV9MNOF9X,0558925278,3.0,1355443200\n"
        "A1Z513UWSAAO0F,0558925278,5.0,1404691200\n"
        "A39HTATAQ9V7YF,0558925278,4.0,1382572800\n",
    )
    ds = load_dataset("amazon2014-csv", category="Beauty", data_dir=tmp_path)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 2, 4)
    assert ds.items["raw_id"].tolist() == ["0205616461", "0558925278"]  # leading zeros kept
    assert ds.info["text_available"] is False
    assert ds.name == "amazon2014-csv[category=Beauty]"


def test_amazon2014_csv_malformed_line(tmp_path):
    path = write(
        tmp_path / "amazon2014_beauty" / "ratings_Beauty.csv",
        "A39HTATAQ9V7YF,0205616461,5.0,1369699200\nA3JM6GV9MNOF9X,0558925278,5.0\n",
    )
    with pytest.raises(DataError) as err:
        load_dataset("amazon2014-csv", category="Beauty", data_dir=tmp_path)
    assert_located(err, path, 2, "expected 4 comma-separated fields")


# ---------------------------------------------------------------- Amazon 2023 JSONL


def review_2023(user: str, parent: str, rating: float, ts: int, asin: str | None = None) -> str:
    return json.dumps(
        {
            "rating": rating,
            "title": "Such a lovely scent but not overpowering.",
            "text": "This spray is really nice.",
            "images": [],
            "asin": asin or parent,
            "parent_asin": parent,
            "user_id": user,
            "timestamp": ts,
            "helpful_vote": 0,
            "verified_purchase": True,
        }
    )


META_2023 = [
    {
        "main_category": "All Beauty",
        "title": "Howard LC0008 Leather Conditioner, 8-Ounce (4-Pack)",
        "average_rating": 4.8,
        "rating_number": 10,
        "features": ["Conditions leather", "Four pack"],
        "description": ["<b>Great</b> conditioner."],
        "price": None,
        "images": [],
        "videos": [],
        "store": "Howard Products",
        "categories": [],
        "details": {"Package Dimensions": "7.1 x 5.5 x 3 inches"},
        "parent_asin": "B01CUPMQZE",
        "bought_together": None,
    },
    {"main_category": "All Beauty", "title": "Spray", "features": [], "description": [], "store": None,
     "categories": ["Beauty", "Fragrance"], "parent_asin": "B076WQZGPM"},
]  # fmt: skip


@pytest.mark.parametrize("gz", [True, False])
def test_amazon2023_format(tmp_path, gz):
    d = tmp_path / "amazon2023_all_beauty"
    ext = ".jsonl.gz" if gz else ".jsonl"
    write(
        d / f"All_Beauty{ext}",
        "\n".join(
            [
                review_2023("AGKHLEW2SOWHNMFQIJGBECAF7INQ", "B00YQ6X8EO", 5.0, 1588687728923),
                review_2023("AGKHLEW2SOWHNMFQIJGBECAF7INQ", "B076WQZGPM", 4.0, 1588615855070, asin="B081TJ8YS3"),
                review_2023("AE74DYR3QUGVPZJ3P7RFWBGIX7XQ", "B01CUPMQZE", 1.0, 1589665266052),
            ]
        )
        + "\n",
    )
    write(d / f"meta_All_Beauty{ext}", "\n".join(json.dumps(m) for m in META_2023) + "\n")
    ds = load_dataset("amazon2023", category="All_Beauty", data_dir=tmp_path)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 3, 3)
    assert ds.items["raw_id"].tolist() == ["B00YQ6X8EO", "B01CUPMQZE", "B076WQZGPM"]  # parent_asin
    items = ds.items.set_index("raw_id")
    assert items.loc["B01CUPMQZE", "brand"] == "Howard Products"
    assert items.loc["B01CUPMQZE", "description"] == "Great conditioner."
    assert items.loc["B01CUPMQZE", "features"] == ["Conditions leather", "Four pack"]
    assert items.loc["B076WQZGPM", "categories"] == ["Beauty", "Fragrance"]
    assert items.loc["B00YQ6X8EO", "title"] == ""  # no metadata row
    assert ds.info["items_side_table"]["without_metadata"] == 1
    # milliseconds -> seconds, and the user's order is chronological
    assert ds.interactions["timestamp"].max() == 1589665266
    user0 = ds.interactions[
        ds.interactions.user == ds.users.index[ds.users.raw_id == "AGKHLEW2SOWHNMFQIJGBECAF7INQ"][0]
    ]
    assert user0["timestamp"].tolist() == [1588615855, 1588687728]
    assert set(ds.info["source_files"]) == {
        f"amazon2023_all_beauty/All_Beauty{ext}",
        f"amazon2023_all_beauty/meta_All_Beauty{ext}",
    }


def test_amazon2023_malformed_line(tmp_path):
    d = tmp_path / "amazon2023_all_beauty"
    path = write(d / "All_Beauty.jsonl", review_2023("U", "P", 5.0, 1) + "\n" + '{"rating": 5.0, "user_id": "U"}\n')
    write(d / "meta_All_Beauty.jsonl", "")
    with pytest.raises(DataError) as err:
        load_dataset("amazon2023", category="All_Beauty", data_dir=tmp_path)
    assert_located(err, path, 2, "missing field 'parent_asin'")


# ---------------------------------------------------------------- RecBole atomic files


def write_recbole(root: Path, inter: str, item: str | None = None, user: str | None = None) -> Path:
    d = root / "ml-100k"
    write(d / "ml-100k.inter", inter)
    if item is not None:
        write(d / "ml-100k.item", item)
    if user is not None:
        write(d / "ml-100k.user", user)
    return root


RB_INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t377\t4.5\t881250950.5\n"
)
RB_ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "242\tKolya\t1996\tComedy\n302\tL.A. Confidential\t1997\tCrime Film-Noir Mystery Thriller\n"
    '377\tHeavyweights "Extra"\t1994\tChildren\'s Comedy\n999\tUnused\t2000\tDrama\n'
)
RB_USER = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n196\t49\tM\twriter\t55105\n"


def test_recbole_format(tmp_path):
    ds = load_dataset("recbole", dataset="ml-100k", data_dir=write_recbole(tmp_path, RB_INTER, RB_ITEM, RB_USER))
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 3, 4)
    assert ds.users["raw_id"].tolist() == ["186", "196", "22"]  # tokens sort as text
    items = ds.items.set_index("raw_id")
    assert items.loc["302", "title"] == "L.A. Confidential"
    assert items.loc["302", "genres"] == ["Crime", "Film-Noir", "Mystery", "Thriller"]
    assert items.loc["377", "title"] == 'Heavyweights "Extra"'
    assert items.loc["242", "year"] == 1996
    assert ds.users.set_index("raw_id").loc["196", "occupation"] == "writer"
    assert ds.info["items_dropped_without_interactions"] == 1
    assert sorted(ds.interactions["timestamp"].tolist())[-1] == 891717742
    assert "Kolya (1996)" in items.loc["242", "text"]
    assert ds.info["has_timestamps"] and ds.info["has_ratings"]


def test_recbole_without_rating_and_time(tmp_path):
    write_recbole(tmp_path, "user_id:token\titem_id:token\nu1\ti2\nu1\ti1\nu2\ti1\n")
    ds = load_dataset("recbole", dataset="ml-100k", data_dir=tmp_path)
    assert ds.info["has_timestamps"] is False and ds.info["has_ratings"] is False
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    assert ds.interactions["rating"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert "text" not in ds.items.columns


def test_recbole_errors(tmp_path):
    write_recbole(tmp_path, "user_id:token\titem_id:token\trating:float\n196\t242\tbad\n")
    with pytest.raises(DataError) as err:
        load_dataset("recbole", dataset="ml-100k", data_dir=tmp_path)
    assert_located(err, tmp_path / "ml-100k" / "ml-100k.inter", 2, "field 'rating' is not a number")
    write_recbole(tmp_path, "user_id:token\titem:tok\n1\t2\n")
    with pytest.raises(DataError, match="line 1: expected a header of 'name:type'"):
        load_dataset("recbole", dataset="ml-100k", data_dir=tmp_path)
    write_recbole(tmp_path, "uid:token\titem_id:token\n1\t2\n")
    with pytest.raises(DataError, match="no field 'user_id'"):
        load_dataset("recbole", dataset="ml-100k", data_dir=tmp_path)
    ds = load_dataset("recbole", dataset="ml-100k", data_dir=tmp_path, user_field="uid")
    assert ds.n_users == 1


# ---------------------------------------------------------------- helpers


def test_split_title_year():
    import pandas as pd

    title, year = split_title_year(
        pd.Series(["Toy Story (1995)", "unknown", "Fawlty Towers (1975-1979)", "Seven (Se7en) (1995) ", "1984 (1984)"])
    )
    assert title.tolist() == ["Toy Story", "unknown", "Fawlty Towers", "Seven (Se7en)", "1984"]
    assert year.tolist()[0] == 1995 and pd.isna(year.tolist()[1]) and year.tolist()[2:] == [1975, 1995, 1984]


def test_clean_text():
    assert clean_text('<div class="a"> <h4>Gift</h4> cards&amp;more</div>') == "Gift cards&more"
    assert clean_text(["<p>a</p>", None, "b"]) == "a b"
    assert clean_text("<style>.x{color:red}</style>Hi") == "Hi"
    assert clean_text(None) == "" and clean_text(3) == ""
    assert clean_text("a < b and c > d") == "a < b and c > d"  # not a tag
