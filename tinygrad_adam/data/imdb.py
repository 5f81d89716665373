"""IMDB Large Movie Review Dataset v1.0 (Maas et al., 2011) as bag-of-words features (paper section 6.1).

Tokenisation (``tokenize``): lowercase, replace the HTML line break ``<br />`` by a space, then take the words:
runs of letters and digits (any script), keeping an apostrophe between two such runs ("don't", "director's").
Vocabulary: the ``num_words`` words with the most occurrences in the *training* split (ties: alphabetical);
column j of the features is word j of the vocabulary. Features (``features=``): "binary" (the default), 1.0
where the review contains the word, else 0; or "counts", the number of times it does. Labels: 0 negative, 1 positive.

On disk: ``imdb/imdb_reviews.jsonl.gz``, one JSON object per review ``{"split", "label", "id", "rating",
"text"}``, train before test, then by label and id. ``download=True`` builds it from the original
``aclImdb_v1.tar.gz``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import tarfile
from collections import defaultdict
from collections.abc import Sequence
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np

from .. import durable
from . import cache
from .download import DownloadError, fetch
from .files import Checksum, DataCorruptError, atomic_path, check_bytes, file_hexdigest, read_gzip_verified
from .paths import DatasetFiles, locate
from .sparse import CSRMatrix
from .split import Split

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
TAR_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
REVIEWS = "imdb_reviews.jsonl.gz"
CHECKSUM = Checksum(69_005_807, "sha256", "6defcff91b2172588eec863f6b67f8951eb6a065783d598c4e6ef79946f8f1b2")
TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
MEMBER = re.compile(r"aclImdb/(train|test)/(neg|pos)/(\d+)_(\d+)\.txt")


def tokenize(text: str) -> list[str]:
    """The words of a review, as described in the module docstring."""
    return TOKEN.findall(text.lower().replace("<br />", " "))


def aclimdb_records(tar_path: Path) -> list[dict[str, Any]]:
    """The 50,000 labelled reviews of an ``aclImdb_v1.tar.gz`` as records in the order of ``imdb_reviews.jsonl``."""
    records = []
    with tarfile.open(tar_path, "r:gz") as tar:
        for member in tar:
            match = MEMBER.fullmatch(member.name)
            if match and member.isfile():
                split, label, review_id, rating = match.groups()
                text = tar.extractfile(member).read().decode("utf-8")
                records.append({"split": split, "label": int(label == "pos"), "id": int(review_id),
                                "rating": int(rating), "text": text})
    return sorted(records, key=lambda r: (r["split"] == "test", r["label"], r["id"]))


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    """Records as JSON Lines, UTF-8, one ``json.dumps(record, ensure_ascii=False)`` per line."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def fetch_imdb(folder: Path, mirrors: Sequence[str] = ()) -> None:
    """Put a verified ``imdb_reviews.jsonl.gz`` in ``folder``: converted from the user's ``aclImdb_v1.tar.gz`` there
    if it passes the MD5 check (and kept), else from ``mirrors`` (base URLs of data directories:
    ``<mirror>/imdb/imdb_reviews.jsonl.gz``) if one serves it, else from the original archive downloaded under a
    name of its own (MD5-checked, converted with a content checksum, then deleted)."""
    def check_tar(path: Path) -> None:
        if (md5 := file_hexdigest(path, "md5")) != TAR_MD5:
            raise DataCorruptError(f"{URL}: md5 {md5}, expected {TAR_MD5}")

    users = folder / "aclImdb_v1.tar.gz"
    try:
        check_tar(users)
    except (OSError, DataCorruptError):
        pass  # absent, unreadable or another file: downloaded below, under another name
    else:
        return convert_archive(users, folder)
    tried: list[str] = []
    if mirrors:
        try:
            fetch([f"{m}/imdb/{REVIEWS}" for m in mirrors], folder / REVIEWS, lambda p: read_gzip_verified(p, CHECKSUM))
            return
        except DownloadError as e:
            tried = e.attempts
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = durable.create_beside(users, ".download")  # never the user's file of that name, nor removes it
    os.close(fd)
    try:
        fetch([URL], Path(name), check_tar, tried)
        convert_archive(Path(name), folder)
    finally:
        Path(name).unlink(missing_ok=True)


def convert_archive(tar_path: Path, folder: Path) -> None:
    """Write ``folder``'s ``imdb_reviews.jsonl.gz`` from a verified ``aclImdb_v1.tar.gz``, content-checksummed."""
    print(f"tinygrad_adam: converting aclImdb_v1.tar.gz to {REVIEWS} (50,000 reviews)", file=sys.stderr, flush=True)
    content = jsonl_bytes(aclimdb_records(tar_path))
    check_bytes(content, CHECKSUM, folder / REVIEWS)
    with atomic_path(folder / REVIEWS) as tmp, open(tmp, "wb") as f, \
            gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
        gz.write(content)


FILES = DatasetFiles("imdb", (REVIEWS,), "load_imdb", URL, fetch_imdb,
                     lambda folder: read_gzip_verified(folder / REVIEWS, CHECKSUM))


def bag_of_words(train: list[str], test: list[str], num_words: int) -> dict[str, np.ndarray]:
    """Bag-of-words CSR arrays of both splits over the top ``num_words`` training words, and the words.

    ``{split}_indices`` / ``{split}_indptr`` give each review's distinct vocabulary words, ``{split}_counts`` how
    often each occurs (float32).
    """
    ids: defaultdict[str, int] = defaultdict(count().__next__)  # every word seen, train or test -> a provisional id
    docs = [np.fromiter(map(ids.__getitem__, tokenize(t)), dtype=np.int32) for t in train + test]
    words, counts = list(ids), np.bincount(np.concatenate(docs[:len(train)]), minlength=len(ids)).tolist()
    seen = [i for i, c in enumerate(counts) if c]
    if num_words > len(seen):
        raise ValueError(f"num_words={num_words} exceeds the {len(seen):,} distinct words of the training split")
    top = sorted(seen, key=lambda i: (-counts[i], words[i]))[:num_words]
    column = np.full(len(ids), -1, dtype=np.int64)
    column[top] = np.arange(num_words)
    arrays = {"vocabulary": np.array([words[i] for i in top])}
    for name, split_docs in (("train", docs[:len(train)]), ("test", docs[len(train):])):
        row = np.repeat(np.arange(len(split_docs)), [len(d) for d in split_docs])
        col = column[np.concatenate(split_docs)]
        cells = np.sort(row[col >= 0] * num_words + col[col >= 0])  # (row, col) pairs in row-major order
        first = np.diff(cells, prepend=-1) != 0  # a word is stored once per review, with its count
        arrays[f"{name}_counts"] = np.diff(np.append(np.flatnonzero(first), len(cells))).astype(np.float32)
        cells = cells[first]
        arrays[f"{name}_indices"] = (cells % num_words).astype(np.int32)
        arrays[f"{name}_indptr"] = np.concatenate([[0], np.cumsum(np.bincount(cells // num_words,
                                                                              minlength=len(split_docs)))])
    return arrays


def load_features(root: str | os.PathLike[str] | None, num_words: int, download: bool) -> dict[str, np.ndarray]:
    """The cached arrays behind ``load_imdb`` and ``load_imdb_vocabulary``, built (and verified) on first use."""
    if isinstance(num_words, bool) or not isinstance(num_words, int | np.integer) or num_words <= 0:
        raise ValueError(f"num_words must be a positive integer, got {num_words!r}")
    path = locate(FILES, root, download) / REVIEWS
    key = cache.source_key({"dataset": "imdb", "num_words": int(num_words), "token": TOKEN.pattern,
                            "arrays": "presence+counts"}, [path])
    arrays = cache.load(f"imdb-bow{num_words}", key)
    if arrays is None:
        content = read_gzip_verified(path, CHECKSUM)  # before saying anything: a bad file is one line
        print(f"tinygrad_adam: first load of IMDB: tokenising 50,000 reviews of {path} into {num_words:,}-word "
              f"bag-of-words features (about 30 s; cached in {cache.cache_dir()} for next time)",
              file=sys.stderr, flush=True)
        records = [json.loads(line) for line in content.decode("utf-8").split("\n")[:-1]]
        texts = {s: [r["text"] for r in records if r["split"] == s] for s in ("train", "test")}
        arrays = bag_of_words(texts["train"], texts["test"], int(num_words))
        for s in ("train", "test"):
            arrays[f"y_{s}"] = np.array([r["label"] for r in records if r["split"] == s], dtype=np.int64)
        cache.save(f"imdb-bow{num_words}", key, arrays)
    return arrays


def load_imdb(root: str | os.PathLike[str] | None = None, num_words: int = 10000,
              download: bool = False, features: str = "binary") -> tuple[Split, Split]:
    """The IMDB ``(train, test)`` splits as bag-of-words; each is ``Split(x, y)``.

    x: (25000, num_words) float32 CSRMatrix (densify a minibatch with ``x[idx].toarray()``); y: (25000,) int64,
    0 negative / 1 positive, 12,500 each, rows in file order (all negatives first: shuffle).
    Column j is word j of ``load_imdb_vocabulary(num_words)``. ``features``: "binary" (1.0 for each word present)
    or "counts" (occurrences in the review).
    ``root`` and ``download`` as in ``load_mnist``. The first load tokenises the 50,000 reviews (tens of
    seconds) and caches the features; later loads read the cache (well under 2 s).
    """
    if features not in ("binary", "counts"):
        raise ValueError(f"features must be 'binary' or 'counts', got {features!r}")
    arrays = load_features(root, num_words, download)

    def split(name: str) -> Split:
        indptr, indices, y = arrays[f"{name}_indptr"], arrays[f"{name}_indices"], arrays[f"y_{name}"]
        values = arrays[f"{name}_counts"] if features == "counts" else np.ones(len(indices), np.float32)
        return Split(CSRMatrix(indptr, indices, values, (len(y), num_words)), y)
    return split("train"), split("test")


def load_imdb_vocabulary(root: str | os.PathLike[str] | None = None, num_words: int = 10000,
                         download: bool = False) -> list[str]:
    """The ``num_words`` words of the IMDB features, most frequent training word first (column order)."""
    return load_features(root, num_words, download)["vocabulary"].tolist()
