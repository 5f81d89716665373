"""tinygrad_adam.data on the real MNIST and IMDB files ($TINYGRAD_ADAM_DATA; tests marked data skip without them).

The processed-array cache goes to a fresh temporary directory ($TINYGRAD_ADAM_CACHE), as on a clean machine;
each dataset is loaded once per module (IMDB's first build tokenises 50,000 reviews, ~10 s).
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import realdata

from tinygrad_adam import data
from tinygrad_adam.data import (
    ArrayLoader,
    CSRMatrix,
    DataCorruptError,
    DataNotFoundError,
    DownloadError,
    load_imdb,
    load_imdb_vocabulary,
    load_mnist,
    tokenize,
)
from tinygrad_adam.data import imdb as imdb_module
from tinygrad_adam.data import mnist as mnist_module
from tinygrad_adam.data.files import Checksum, atomic_path
from tinygrad_adam.data.imdb import aclimdb_records, bag_of_words, jsonl_bytes

REPO = Path(__file__).resolve().parent.parent
DATA = realdata.find("mnist") or realdata.find("imdb") or REPO / "no-data"  # used by tests marked data only
MNIST_FILES = tuple(mnist_module.CHECKSUMS)


@pytest.fixture(scope="module", autouse=True)
def fresh_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("TINYGRAD_ADAM_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def mnist(fresh_cache: Path) -> tuple[data.Split, data.Split]:
    return load_mnist(DATA)


@pytest.fixture(scope="module")
def imdb(fresh_cache: Path) -> tuple[data.Split, data.Split]:
    return load_imdb(DATA)


@pytest.fixture(scope="module")
def reviews() -> list[dict]:
    with gzip.open(DATA / "imdb" / "imdb_reviews.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def copy_mnist(dest: Path, names: tuple[str, ...] = MNIST_FILES) -> Path:
    (dest / "mnist").mkdir(parents=True, exist_ok=True)
    for name in names:
        (dest / "mnist" / name).write_bytes((DATA / "mnist" / name).read_bytes())
    return dest


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No data directory but the ones a test passes: $TINYGRAD_ADAM_DATA unset, an empty home."""
    monkeypatch.delenv("TINYGRAD_ADAM_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.part")]


# ---------------------------------------------------------------- MNIST


@pytest.mark.data("mnist")
def test_mnist_shapes_dtypes_ranges(mnist: tuple[data.Split, data.Split]) -> None:
    for split, n in zip(mnist, (60000, 10000), strict=True):
        assert split.x.shape == (n, 1, 28, 28) and split.x.dtype == np.float32
        assert split.y.shape == (n,) and split.y.dtype == np.int64
        assert split.x.min() == 0.0 and split.x.max() == 1.0
        head = split.x[:1000]
        np.testing.assert_array_equal(np.round(head * 255).astype(np.uint8) / np.float32(255), head)  # exactly k/255
        assert set(np.unique(split.y)) == set(range(10))


@pytest.mark.data("mnist")
def test_mnist_known_facts(mnist: tuple[data.Split, data.Split]) -> None:
    train, test = mnist
    assert train.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(train.y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(train.x.mean(dtype=np.float64) - 0.13066) < 5e-5 and abs(train.x.std(dtype=np.float64) - 0.30811) < 5e-5
    assert abs(test.x.mean(dtype=np.float64) - 0.13251) < 5e-5


@pytest.mark.data("mnist")
def test_mnist_second_load_from_cache_equals_first(mnist: tuple[data.Split, data.Split], fresh_cache: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert (fresh_cache / "mnist.npz").is_file()
    monkeypatch.setattr(mnist_module, "read_gzip_verified", lambda *a: pytest.fail("cache not used"))
    for again, first in zip(load_mnist(DATA), mnist, strict=True):
        np.testing.assert_array_equal(again.x, first.x)
        np.testing.assert_array_equal(again.y, first.y)


@pytest.mark.data("mnist")
def test_mnist_cache_rebuilt_when_a_source_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_mnist(tmp_path)
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(tmp_path / "cache"))
    reads = []
    real = mnist_module.read_gzip_verified
    monkeypatch.setattr(mnist_module, "read_gzip_verified", lambda p, e: reads.append(p.name) or real(p, e))
    load_mnist(root)
    assert capsys.readouterr().err.count("first load of MNIST: verified") == 1  # says what it does
    load_mnist(root)
    assert len(reads) == 4  # verified and decoded once, then read from the cache
    assert capsys.readouterr().err == ""
    os.utime(root / "mnist" / MNIST_FILES[1], ns=(1, 1))
    load_mnist(root)
    assert len(reads) == 8


@pytest.mark.data("mnist")
def test_mnist_unwritable_cache_warns_and_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a_file").write_text("not a directory")
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(tmp_path / "a_file" / "cache"))
    with pytest.warns(RuntimeWarning, match="could not write the data cache"):
        _, test = load_mnist(DATA)
    assert test.y[:3].tolist() == [7, 2, 1]


@pytest.mark.data("mnist")
def test_mnist_missing_files_error_names_files_dirs_and_remedy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partial = copy_mnist(tmp_path / "env", MNIST_FILES[:3])
    monkeypatch.setenv("TINYGRAD_ADAM_DATA", str(partial))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path / "root")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for needed in (*MNIST_FILES, str(tmp_path / "root" / "mnist"), str(partial / "mnist"),
                   str(tmp_path / "home" / ".cache" / "tinygrad_adam" / "mnist"), "download=True", "copy"):
        assert needed in message
    assert f"missing {MNIST_FILES[3]}" in message and "does not exist" in message


@pytest.mark.data("mnist")
def test_mnist_found_in_a_later_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGRAD_ADAM_DATA", str(DATA))
    train, _ = load_mnist(tmp_path / "empty_root")
    assert train.y[0] == 5


@pytest.mark.data("mnist")
def test_mnist_corrupt_or_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    root = copy_mnist(tmp_path)
    labels = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(labels.read_bytes()))
    content[100] = (content[100] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(DataCorruptError, match=r"t10k-labels-idx1-ubyte\.gz: md5 .* expected 27ae3e4e"):
        load_mnist(root)
    labels.write_bytes(gzip.compress(bytes(content))[:-20])
    with pytest.raises(DataCorruptError, match=r"t10k-labels-idx1-ubyte\.gz: cannot be decompressed"):
        load_mnist(root)


@pytest.mark.data("mnist")
@pytest.mark.usefixtures("isolated")
def test_mnist_download_tries_mirrors_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = copy_mnist(tmp_path / "mirror") / "mnist"
    monkeypatch.setattr(mnist_module, "MIRRORS", ((tmp_path / "nowhere").as_uri() + "/", mirror.as_uri() + "/"))
    root = copy_mnist(tmp_path / "root", MNIST_FILES[:2])  # only the missing two are fetched
    _, test = load_mnist(root, download=True)
    assert test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(MNIST_FILES)


@pytest.mark.data("mnist")
@pytest.mark.usefixtures("isolated")
def test_mnist_download_verifies_the_files_it_keeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One file missing, another damaged: the download fetched the missing one and reported success; the damaged
    one kept is named now (DataCorruptError), and left as it was."""
    mirror = copy_mnist(tmp_path / "mirror") / "mnist"
    monkeypatch.setattr(mnist_module, "MIRRORS", (mirror.as_uri() + "/",))
    root = copy_mnist(tmp_path / "root", MNIST_FILES[:3])
    (root / "mnist" / MNIST_FILES[1]).write_bytes(b"junk")
    with pytest.raises(DataCorruptError, match=MNIST_FILES[1].replace(".", r"\.")):
        data.fetch_dataset("mnist", root)
    assert (root / "mnist" / MNIST_FILES[1]).read_bytes() == b"junk"
    assert (root / "mnist" / MNIST_FILES[3]).read_bytes() == (mirror / MNIST_FILES[3]).read_bytes()


@pytest.mark.usefixtures("isolated")
def test_mnist_download_rejects_wrong_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in MNIST_FILES:
        (mirror / name).write_bytes(gzip.compress(b"not mnist"))
    monkeypatch.setattr(mnist_module, "MIRRORS", (mirror.as_uri() + "/", (tmp_path / "nowhere").as_uri() + "/"))
    with pytest.raises(DownloadError, match=r"(?s)train-images.*DataCorruptError.*expected 47,040,016.*nowhere"):
        load_mnist(tmp_path / "root", download=True)
    assert not (tmp_path / "root" / "mnist" / MNIST_FILES[0]).exists()
    assert leftovers(tmp_path / "root") == []


def test_atomic_path_leaves_destination_untouched_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old")
    with pytest.raises(KeyError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise KeyError("interrupted")
    assert dest.read_bytes() == b"old" and leftovers(tmp_path) == []
    with atomic_path(dest) as tmp:
        tmp.write_bytes(b"new")
    assert dest.read_bytes() == b"new" and leftovers(tmp_path) == []


def test_data_dirs_order_and_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TINYGRAD_ADAM_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(tmp_path / "c"))
    default = tmp_path / "home" / ".cache" / "tinygrad_adam"
    assert [p for p, _ in data.data_dirs(tmp_path / "r")] == [tmp_path / "r", tmp_path / "env", default]
    assert [p for p, _ in data.data_dirs(tmp_path / "env")] == [tmp_path / "env", default]  # no duplicates
    assert data.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TINYGRAD_ADAM_DATA")
    monkeypatch.delenv("TINYGRAD_ADAM_CACHE")
    assert [p for p, _ in data.data_dirs()] == [default] and data.cache_dir() == default


# ---------------------------------------------------------------- IMDB


@pytest.mark.data("imdb")
def test_imdb_counts_shapes_labels(imdb: tuple[data.Split, data.Split]) -> None:
    for split in imdb:
        assert isinstance(split.x, CSRMatrix) and split.x.shape == (25000, 10000) and len(split.x) == 25000
        assert split.x.dtype == np.float32 and np.all(split.x.data == 1.0)  # binary presence
        assert split.y.dtype == np.int64 and np.bincount(split.y).tolist() == [12500, 12500]
        assert split.y[:12500].max() == 0  # file order: negatives first
        assert np.all(np.diff(split.x.indptr) > 0)  # every review has some vocabulary word
        assert 2_500_000 < split.x.nnz < 4_000_000  # ~130 distinct vocabulary words per review


@pytest.mark.data("imdb")
def test_imdb_vocabulary_from_training_split_only(imdb: tuple[data.Split, data.Split], reviews: list[dict]) -> None:
    vocabulary = load_imdb_vocabulary(DATA)
    assert len(vocabulary) == len(set(vocabulary)) == 10000
    assert vocabulary[:3] == ["the", "and", "a"]  # the original imdb.vocab's ten most frequent, in some order:
    assert set(vocabulary[:10]) == {"the", "and", "a", "of", "to", "is", "it", "in", "i", "this"}
    # 'ponyo' is frequent in the test reviews (the 10,000th training word occurs 31 times) but absent from train
    in_split = {s: sum(r["text"].lower().count("ponyo") for r in reviews if r["split"] == s) for s in ("train", "test")}
    assert in_split["train"] == 0 and in_split["test"] > 100
    assert "ponyo" not in vocabulary and "bromwell" not in vocabulary  # 'bromwell': 8 training occurrences


@pytest.mark.data("imdb")
def test_imdb_rows_are_the_vocabulary_words_of_each_review(imdb: tuple[data.Split, data.Split],
                                                           reviews: list[dict]) -> None:
    vocabulary = load_imdb_vocabulary(DATA)
    column = {w: j for j, w in enumerate(vocabulary)}
    texts = {s: [r["text"] for r in reviews if r["split"] == s] for s in ("train", "test")}
    assert texts["train"][12500].startswith("Bromwell High is a cartoon comedy.")
    for split, name in zip(imdb, ("train", "test"), strict=True):
        for i in (0, 1, 12500, 24999):
            expected = np.zeros(10000, np.float32)
            expected[[column[w] for w in tokenize(texts[name][i]) if w in column]] = 1
            np.testing.assert_array_equal(split.x[[i]].toarray()[0], expected)
    row = imdb[0].x[[12500]].toarray()[0]
    assert row[column["cartoon"]] == 1 and row[column["comedy"]] == 1 and row[column["terrible"]] == 0


@pytest.mark.data("imdb")
def test_imdb_second_load_from_cache(imdb: tuple[data.Split, data.Split], fresh_cache: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert (fresh_cache / "imdb-bow10000.npz").is_file()
    monkeypatch.setattr(imdb_module, "bag_of_words", lambda *a: pytest.fail("cache not used"))
    for again, first in zip(load_imdb(DATA), imdb, strict=True):
        for field in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(again.x, field), getattr(first.x, field))
        np.testing.assert_array_equal(again.y, first.y)


@pytest.mark.data("imdb")
def test_imdb_counts_features(imdb: tuple[data.Split, data.Split], reviews: list[dict]) -> None:
    counts, _ = load_imdb(DATA, features="counts")
    vocabulary = load_imdb_vocabulary(DATA)
    column = {w: j for j, w in enumerate(vocabulary)}
    np.testing.assert_array_equal(counts.x.indices, imdb[0].x.indices)  # the same words as the binary features
    text = [r["text"] for r in reviews if r["split"] == "train"][12500]
    expected = np.zeros(10000, np.float32)
    np.add.at(expected, [column[w] for w in tokenize(text) if w in column], 1)
    np.testing.assert_array_equal(counts.x[[12500]].toarray()[0], expected)
    assert expected.max() > 1
    with pytest.raises(ValueError, match="features must be 'binary' or 'counts'"):
        load_imdb(DATA, features="tfidf")


@pytest.mark.parametrize("num_words", [0, -5, 2.5, True, "10"])
def test_imdb_bad_num_words(num_words: object) -> None:
    with pytest.raises(ValueError, match="num_words must be a positive integer"):
        load_imdb(DATA, num_words=num_words)


def test_bag_of_words_vocabulary_order_and_presence() -> None:
    train = ["b a b<br />c", "a b", "d d d d"]
    test = ["zz zz zz zz zz a", "", "c e"]
    arrays = bag_of_words(train, test, 3)
    assert arrays["vocabulary"].tolist() == ["d", "b", "a"]  # 4, 3, 2 occurrences; 'zz' (test only) excluded
    x_train = CSRMatrix(arrays["train_indptr"], arrays["train_indices"], np.ones(len(arrays["train_indices"])),
                        (3, 3)).toarray()
    x_test = CSRMatrix(arrays["test_indptr"], arrays["test_indices"], np.ones(len(arrays["test_indices"])),
                       (3, 3)).toarray()
    np.testing.assert_array_equal(x_train, [[0, 1, 1], [0, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(x_test, [[0, 0, 1], [0, 0, 0], [0, 0, 0]])
    counts = CSRMatrix(arrays["train_indptr"], arrays["train_indices"], arrays["train_counts"], (3, 3)).toarray()
    np.testing.assert_array_equal(counts, [[0, 2, 1], [0, 1, 1], [4, 0, 0]])  # "b a b c": b twice
    assert bag_of_words(["y x", "x y"], ["x"], 2)["vocabulary"].tolist() == ["x", "y"]  # ties: alphabetical
    with pytest.raises(ValueError, match="num_words=5 exceeds the 4 distinct words"):
        bag_of_words(train, test, 5)


def test_tokenize() -> None:
    text = "Don't<br /><br />stop—the 'movie' isn't_bad; Café 10/10 O'Brien's"
    assert tokenize(text) == ["don't", "stop", "the", "movie", "isn't", "bad", "café", "10", "10", "o'brien's"]


def fake_aclimdb(path: Path) -> None:
    files = {"aclImdb/train/pos/1_8.txt": "Great fun, great cast.", "aclImdb/train/pos/0_9.txt": "Great film!",
             "aclImdb/train/neg/0_1.txt": "Awful<br />film, awful.", "aclImdb/test/neg/0_2.txt": "Awful plot",
             "aclImdb/test/pos/0_10.txt": "Café: great", "aclImdb/train/unsup/0_0.txt": "unlabelled",
             "aclImdb/imdb.vocab": "the\nand", "aclImdb/train/labeledBow.feat": "0 0:1"}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))


def test_aclimdb_conversion_order_and_format(tmp_path: Path) -> None:
    fake_aclimdb(tmp_path / "a.tar.gz")
    records = aclimdb_records(tmp_path / "a.tar.gz")
    assert [(r["split"], r["label"], r["id"], r["rating"]) for r in records] == [
        ("train", 0, 0, 1), ("train", 1, 0, 9), ("train", 1, 1, 8), ("test", 0, 0, 2), ("test", 1, 0, 10)]
    assert records[-1]["text"] == "Café: great"
    line = '{"split": "test", "label": 1, "id": 0, "rating": 10, "text": "Café: great"}\n'
    assert jsonl_bytes(records[-1:]) == line.encode()


@pytest.mark.data("imdb")
def test_jsonl_format_reproduces_the_shared_file(reviews: list[dict]) -> None:
    with gzip.open(DATA / "imdb" / "imdb_reviews.jsonl.gz", "rb") as f:
        head = b"".join(f.readline() for _ in range(300))
    assert jsonl_bytes(reviews[:300]) == head


@pytest.mark.usefixtures("isolated")
def test_imdb_download_converts_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "aclImdb_v1.tar.gz"
    fake_aclimdb(archive)
    content = jsonl_bytes(aclimdb_records(archive))
    monkeypatch.setattr(imdb_module, "URL", archive.as_uri())
    monkeypatch.setattr(imdb_module, "TAR_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(imdb_module, "CHECKSUM", Checksum(len(content), "sha256", hashlib.sha256(content).hexdigest()))
    train, test = load_imdb(tmp_path / "root", num_words=2, download=True)
    said = capsys.readouterr().err  # what the long steps are doing
    assert "converting aclImdb_v1.tar.gz to imdb_reviews.jsonl.gz" in said
    assert "first load of IMDB: tokenising 50,000 reviews" in said and "cached in" in said
    assert load_imdb_vocabulary(tmp_path / "root", num_words=2) == ["great", "awful"]
    assert "first load" not in capsys.readouterr().err  # the cache is used
    np.testing.assert_array_equal(train.x.toarray(), [[0, 1], [1, 0], [1, 0]])
    np.testing.assert_array_equal(test.y, [0, 1])
    assert sorted(p.name for p in (tmp_path / "root" / "imdb").iterdir()) == ["imdb_reviews.jsonl.gz"]


@pytest.mark.usefixtures("isolated")
def test_imdb_download_rejects_wrong_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "aclImdb_v1.tar.gz"
    fake_aclimdb(archive)
    monkeypatch.setattr(imdb_module, "URL", archive.as_uri())  # md5 differs from the real archive's
    with pytest.raises(DownloadError, match=r"md5 .* expected 7c2ac02c03563afcf9b574c7e56c153a"):
        load_imdb(tmp_path / "root", download=True)
    assert not (tmp_path / "root").exists()  # the failed download removes the directories it made


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize("users_file", ["the archive", "another file"])
def test_imdb_download_keeps_the_users_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               users_file: str) -> None:
    """A file named aclImdb_v1.tar.gz in the data directory is the user's: the download wrote over it and deleted
    it. Now the archive itself is converted where it lies (no download) and kept; another file of that name is
    left as it was while the archive is downloaded beside it under a name of its own."""
    archive = tmp_path / "aclImdb_v1.tar.gz"
    fake_aclimdb(archive)
    content = jsonl_bytes(aclimdb_records(archive))
    monkeypatch.setattr(imdb_module, "TAR_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(imdb_module, "CHECKSUM", Checksum(len(content), "sha256", hashlib.sha256(content).hexdigest()))
    folder = tmp_path / "root" / "imdb"
    folder.mkdir(parents=True)
    mine = archive.read_bytes() if users_file == "the archive" else b"my notes"
    (folder / "aclImdb_v1.tar.gz").write_bytes(mine)
    source = archive if users_file == "another file" else tmp_path / "absent.tar.gz"  # no download needed
    monkeypatch.setattr(imdb_module, "URL", source.as_uri())
    _, test = load_imdb(tmp_path / "root", num_words=2, download=True)
    np.testing.assert_array_equal(test.y, [0, 1])
    assert (folder / "aclImdb_v1.tar.gz").read_bytes() == mine
    assert sorted(p.name for p in folder.iterdir()) == ["aclImdb_v1.tar.gz", "imdb_reviews.jsonl.gz"]


# ---------------------------------------------------------------- CSRMatrix


@pytest.fixture
def dense() -> np.ndarray:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(13, 7)).astype(np.float32) * (rng.random((13, 7)) < 0.3)
    a[[2, 12]] = 0  # empty rows, including the last
    return a


def test_csr_roundtrip_and_row_selection(dense: np.ndarray) -> None:
    m = CSRMatrix.from_dense(dense)
    assert m.shape == (13, 7) and len(m) == 13 and m.nnz == np.count_nonzero(dense)
    np.testing.assert_array_equal(m.toarray(), dense)
    for rows in ([3, 3, 0, 12, -1], np.array([], dtype=np.int64), slice(None, None, -3), slice(2, 5)):
        np.testing.assert_array_equal(m[rows].toarray(), dense[rows])
    assert m[[1, 2]].toarray(np.float64).dtype == np.float64


def test_csr_bad_construction_and_indexing(dense: np.ndarray) -> None:
    m = CSRMatrix.from_dense(dense)
    with pytest.raises(ValueError, match="strictly increasing"):
        CSRMatrix([0, 2], [3, 1], [1.0, 1.0], (1, 5))
    with pytest.raises(ValueError, match=r"outside 0\.\.4"):
        CSRMatrix([0, 1], [5], [1.0], (1, 5))
    with pytest.raises(ValueError, match="indptr must rise from 0 to nnz=1"):
        CSRMatrix([0, 2], [1], [1.0], (1, 5))
    with pytest.raises(ValueError, match="indptr must be 3 integers"):
        CSRMatrix([0, 1], [1], [1.0], (2, 5))
    with pytest.raises(IndexError, match="row index 13 is out of range for 13 rows"):
        m[[0, 13]]
    with pytest.raises(IndexError, match="1-D integer array"):
        m[np.ones(13, dtype=bool)]
    with pytest.raises(ValueError, match="2-D"):
        CSRMatrix.from_dense(np.zeros(3))


@pytest.mark.data("imdb")
def test_imdb_sparse_batch_densifies_to_the_dense_rows(imdb: tuple[data.Split, data.Split]) -> None:
    x = imdb[0].x
    rows = np.random.default_rng(1).choice(len(x), 64, replace=False)
    batch = x[rows].toarray()
    assert batch.shape == (64, 10000) and batch.dtype == np.float32
    for b, i in enumerate(rows):
        expected = np.zeros(10000, np.float32)
        expected[x.indices[x.indptr[i]:x.indptr[i + 1]]] = 1
        np.testing.assert_array_equal(batch[b], expected)


# ---------------------------------------------------------------- ArrayLoader


def epoch(loader: ArrayLoader) -> list[tuple[np.ndarray, ...]]:
    return list(loader)


def test_loader_covers_every_row_once_per_epoch() -> None:
    x, y = np.arange(1000, dtype=np.float32).reshape(250, 4), np.arange(250)
    loader = ArrayLoader((x, y), batch_size=32, seed=3)
    assert len(loader) == 8
    for _ in range(2):
        batches = epoch(loader)
        assert [len(b[1]) for b in batches] == [32] * 7 + [26]
        ys = np.concatenate([b[1] for b in batches])
        assert sorted(ys.tolist()) == list(range(250)) and ys.tolist() != list(range(250))
        for xb, yb in batches:
            np.testing.assert_array_equal(xb, x[yb])
            assert xb.dtype == np.float32 and yb.dtype == y.dtype


def test_loader_order_is_a_function_of_seed_and_epoch() -> None:
    y = np.arange(100)
    a, b = ArrayLoader((y,), batch_size=10, seed=7), ArrayLoader((y,), batch_size=10, seed=7)
    a0, a1, b0 = epoch(a), epoch(a), epoch(b)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a0, b0, strict=True))
    assert not np.array_equal(np.concatenate([p[0] for p in a0]), np.concatenate([p[0] for p in a1]))
    other = np.concatenate([p[0] for p in epoch(ArrayLoader((y,), batch_size=10, seed=8))])
    assert not np.array_equal(other, np.concatenate([p[0] for p in a0]))
    resumed = ArrayLoader((y,), batch_size=10, seed=7)
    resumed.set_epoch(1, start_batch=4)
    assert [p[0].tolist() for p in resumed] == [p[0].tolist() for p in a1[4:]]
    assert [p[0].tolist() for p in resumed] == [p[0].tolist() for p in epoch(a)]  # then epoch 2, as for a


def test_loader_unseeded_records_its_seed_and_unshuffled_order() -> None:
    y = np.arange(50)
    loader = ArrayLoader((y,), batch_size=8)
    first = [p[0].tolist() for p in loader]
    assert [p[0].tolist() for p in ArrayLoader((y,), batch_size=8, seed=loader.seed)] == first
    plain = ArrayLoader((y,), batch_size=8, shuffle=False)
    assert np.concatenate([p[0] for p in plain]).tolist() == list(range(50))


def test_loader_drop_last() -> None:
    y = np.arange(10)
    loader = ArrayLoader((y,), batch_size=4, drop_last=True, seed=0)
    batches = epoch(loader)
    assert len(loader) == len(batches) == 2 and all(len(b[0]) == 4 for b in batches)
    assert len(set(np.concatenate([b[0] for b in batches]).tolist())) == 8
    assert len(ArrayLoader((y,), batch_size=4, seed=0)) == 3


def test_loader_sparse_and_dense_batches_agree(dense: np.ndarray) -> None:
    y = np.arange(13)
    sparse = CSRMatrix.from_dense(dense)
    for (xs, ys), (xd, yd), (xc, _) in zip(ArrayLoader((sparse, y), batch_size=5, seed=2),
                                           ArrayLoader((dense, y), batch_size=5, seed=2),
                                           ArrayLoader((sparse, y), batch_size=5, seed=2, sparse=True), strict=True):
        assert xs.dtype == np.float32 and isinstance(xc, CSRMatrix)
        np.testing.assert_array_equal(xs, xd)
        np.testing.assert_array_equal(xc.toarray(), xd)
        np.testing.assert_array_equal(ys, yd)


def test_loader_bad_arguments() -> None:
    x, y = np.zeros((10, 3)), np.zeros(9)
    with pytest.raises(ValueError, match=r"arrays\[0\] has 10 rows but arrays\[1\] has 9"):
        ArrayLoader((x, y))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=f"batch_size must be a positive integer, got {bad!r}"):
            ArrayLoader((x,), batch_size=bad)
    with pytest.raises(TypeError, match="non-empty tuple"):
        ArrayLoader(x)
    with pytest.raises(TypeError, match="non-empty tuple"):
        ArrayLoader(())
    with pytest.raises(TypeError, match=r"arrays\[1\] must be a numpy array"):
        ArrayLoader((x, [1, 2]))
    with pytest.raises(ValueError, match="seed takes None or an int of 0 or more"):
        ArrayLoader((x,), seed=-1)
    with pytest.raises(ValueError, match="10 rows give no batch of 16 with drop_last=True"):
        ArrayLoader((x,), batch_size=16, drop_last=True)
    with pytest.raises(ValueError, match="0 <= start_batch <= 1"):
        ArrayLoader((x,), batch_size=16).set_epoch(0, start_batch=2)


# ---------------------------------------------------------------- layering


def test_data_imports_only_numpy_stdlib_itself_and_the_tensor() -> None:
    for path in (REPO / "tinygrad_adam" / "data").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module] if node.module else [a.name for a in node.names]
                # Tensors, progress, DistributedSampler's world and synced writes (leaves: test_layering)
                outside = node.level == 2 and set(names) <= {"tensor", "backend", "progress", "distributed",
                                                              "durable"}
                assert node.level in (0, 1) or outside, f"{path.name} imports from outside tinygrad_adam.data: " \
                                                        f"{node.module}"
                modules = [node.module] if node.level == 0 else []
            else:
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for module in modules:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top == "numpy", f"{path.name} imports {module}"
