"""Tests for dendrosim.datasets: IDX parsing on synthetic files, and (marked
``mnist``) the real MNIST files when they can be found."""

from __future__ import annotations

import gzip
import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

from dendrosim import datasets

_CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype("i2"): 0x0B,
    np.dtype("i4"): 0x0C,
    np.dtype("f4"): 0x0D,
    np.dtype("f8"): 0x0E,
}


def idx_bytes(arr: np.ndarray) -> bytes:
    """Serialise *arr* as IDX (big-endian)."""
    arr = np.asarray(arr)
    head = bytes([0, 0, _CODES[arr.dtype.newbyteorder("=")], arr.ndim])
    head += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray | bytes, gz: bool | None = None) -> Path:
    data = arr if isinstance(arr, bytes) else idx_bytes(arr)
    if gz is None:
        gz = path.name.endswith(".gz")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def fake_mnist(directory: Path, n_train=6, n_test=4, gz=True) -> dict[str, str]:
    """Write tiny MNIST-named files; return {stem: sha256 of raw bytes}."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for split, n in (("train", n_train), ("test", n_test)):
        img_stem, lab_stem = datasets.MNIST_FILES[split]
        for stem, arr in (
            (img_stem, rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)),
            (lab_stem, (np.arange(n) % 10).astype(np.uint8)),
        ):
            raw = idx_bytes(arr)
            hashes[stem] = hashlib.sha256(raw).hexdigest()
            write_idx(directory / (stem + (".gz" if gz else "")), raw, gz=gz)
    return hashes


# --------------------------------------------------------------------------- #
# IDX parsing (synthetic)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_ubyte_3d(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = write_idx(tmp_path / ("x-idx3-ubyte" + (".gz" if gz else "")), arr, gz=gz)
    out = datasets.read_idx(p)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 99  # returned array is a writeable copy, not the cache
    np.testing.assert_array_equal(datasets.read_idx(p), arr)


def test_read_idx_magic_and_dims_big_endian(tmp_path):
    arr = np.zeros((300, 2), dtype=np.uint8)  # 300 > 255 exercises multi-byte dims
    data = idx_bytes(arr)
    assert data[:4] == b"\x00\x00\x08\x02"
    assert data[4:8] == (300).to_bytes(4, "big")
    assert datasets.read_idx(write_idx(tmp_path / "a", arr)).shape == (300, 2)


@pytest.mark.parametrize("dtype", ["i1", "i2", "i4", "f4", "f8"])
def test_read_idx_other_dtypes_native_order(tmp_path, dtype):
    arr = (np.arange(6) - 3).astype(dtype).reshape(3, 2)
    out = datasets.read_idx(write_idx(tmp_path / "a.gz", arr))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_gzip_detected_by_content_not_name(tmp_path):
    arr = np.arange(5, dtype=np.uint8)
    p = write_idx(tmp_path / "labels-idx1-ubyte", arr, gz=True)  # gzip without .gz
    np.testing.assert_array_equal(datasets.read_idx(p), arr)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x02\x08\x01" + (1).to_bytes(4, "big") + b"\x00", "bad IDX magic"),
        (b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x00", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + (1).to_bytes(4, "big"), "truncated header"),
    ],
)
def test_corrupt_header(tmp_path, data, match):
    p = write_idx(tmp_path / "bad-idx", data, gz=False)
    with pytest.raises(ValueError, match=match) as info:
        datasets.read_idx(p)
    assert p.name in str(info.value)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("delta, what", [(-1, "truncated"), (3, "trailing bytes")])
def test_length_mismatch(tmp_path, gz, delta, what):
    data = idx_bytes(np.zeros((4, 5), dtype=np.uint8))
    data = data[:delta] if delta < 0 else data + b"\x00" * delta
    p = write_idx(tmp_path / ("bad.gz" if gz else "bad"), data, gz=gz)
    with pytest.raises(ValueError, match=f"length mismatch \\({what}\\)") as info:
        datasets.read_idx(p)
    msg = str(info.value)
    assert p.name in msg and "(4, 5)" in msg and "32 bytes" in msg  # 4 + 2*4 + 20


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros(100, dtype=np.uint8)))
    p = tmp_path / "broken.gz"
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="corrupt gzip") as info:
        datasets.read_idx(p)
    assert "broken.gz" in str(info.value)


# --------------------------------------------------------------------------- #
# checksums (synthetic files registered via monkeypatch)
# --------------------------------------------------------------------------- #
def test_checksum_match_and_mismatch(tmp_path, monkeypatch):
    arr = np.arange(10, dtype=np.uint8)
    raw_sha = hashlib.sha256(idx_bytes(arr)).hexdigest()
    p = write_idx(tmp_path / "fake-idx1-ubyte.gz", arr)

    monkeypatch.setitem(datasets.MNIST_SHA256, "fake-idx1-ubyte", raw_sha)
    np.testing.assert_array_equal(datasets.read_idx(p, verify=True), arr)

    wrong = "0" * 64
    monkeypatch.setitem(datasets.MNIST_SHA256, "fake-idx1-ubyte", wrong)
    with pytest.raises(ValueError, match="SHA-256") as info:
        datasets.read_idx(p, verify=True)
    msg = str(info.value)
    assert "fake-idx1-ubyte.gz" in msg and wrong in msg and raw_sha in msg
    datasets.read_idx(p, verify=False)  # opting out works


def test_checksum_unknown_file_with_verify(tmp_path):
    p = write_idx(tmp_path / "unregistered-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="no known SHA-256"):
        datasets.read_idx(p, verify=True)


def test_sha256sums_file_beside_gz(tmp_path, monkeypatch):
    arr = np.arange(7, dtype=np.uint8)
    p = write_idx(tmp_path / "fake-idx1-ubyte.gz", arr)
    monkeypatch.setitem(datasets.MNIST_SHA256, "fake-idx1-ubyte", hashlib.sha256(idx_bytes(arr)).hexdigest())
    gz_sha = hashlib.sha256(p.read_bytes()).hexdigest()
    sums = tmp_path / "SHA256SUMS"

    sums.write_text(f"{gz_sha}  fake-idx1-ubyte.gz\n")
    datasets.read_idx(p, verify=True)

    sums.write_text(f"{'f' * 64}  fake-idx1-ubyte.gz\n")
    with pytest.raises(ValueError, match="SHA256SUMS") as info:
        datasets.read_idx(p, verify=True)
    assert "f" * 64 in str(info.value) and gz_sha in str(info.value)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_on_synthetic_files(tmp_path, monkeypatch, gz):
    d = tmp_path / "mnist"
    hashes = fake_mnist(d, gz=gz)
    # Real MNIST checksums: the synthetic files must be rejected ...
    with pytest.raises(ValueError, match="mismatch"):
        datasets.load_mnist(d, "train")
    # ... and accepted once registered, or with verify=False.
    for stem, h in hashes.items():
        monkeypatch.setitem(datasets.MNIST_SHA256, stem, h)
    x, y = datasets.load_mnist(d, "train", dtype=np.float32)
    assert x.shape == (6, 784) and x.dtype == np.float32
    assert y.dtype == np.int64 and list(y) == [0, 1, 2, 3, 4, 5]
    assert 0.0 <= x.min() and x.max() <= 1.0
    x2, _ = datasets.load_mnist(tmp_path, "test", verify=False)  # tmp_path/mnist accepted
    assert x2.shape == (4, 784) and x2.dtype == np.float64

    s = datasets.mnist_splits(d, n_validation=2)
    assert [s[k][0].shape[0] for k in ("train", "validation", "test")] == [4, 2, 4]
    np.testing.assert_array_equal(s["validation"][1], [4, 5])

    with pytest.raises(ValueError, match="split"):
        datasets.load_mnist(d, "valid")
    with pytest.raises(ValueError, match="floating"):
        datasets.load_mnist(d, "train", dtype=np.uint8)
    with pytest.raises(ValueError, match="n_validation"):
        datasets.mnist_splits(d, n_validation=6)


def test_mismatched_image_label_counts(tmp_path):
    d = tmp_path / "d"
    fake_mnist(d, n_train=6)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="6 images but .* 5 labels"):
        datasets.load_mnist(d, "train", verify=False)


# --------------------------------------------------------------------------- #
# finding the data
# --------------------------------------------------------------------------- #
def test_missing_data_message_names_all_places(tmp_path, monkeypatch):
    env_dir = tmp_path / "envdata"
    fake_root = tmp_path / "repo" / "root"
    cwd = tmp_path / "elsewhere" / "cwd"
    for p in (env_dir, fake_root, cwd):
        p.mkdir(parents=True)
    monkeypatch.setenv("DENDROSIM_DATA", str(env_dir))
    monkeypatch.setattr(datasets, "_REPO_ROOT", fake_root)
    monkeypatch.setattr(datasets.paths, "user_data_dir", lambda: tmp_path / "user-data")
    monkeypatch.chdir(cwd)
    with pytest.raises(FileNotFoundError) as info:
        datasets.find_mnist_dir()
    msg = str(info.value)
    for place in (
        env_dir,
        env_dir / "mnist",
        fake_root / "data" / "mnist",
        tmp_path / "user-data" / "mnist",
        tmp_path / "repo" / "shared" / "data" / "mnist",
        tmp_path / "elsewhere" / "shared" / "data" / "mnist",
    ):
        assert str(place.resolve()) in msg, place
    assert "DENDROSIM_DATA" in msg and "`dendrosim data mnist`" in msg and "ossci-datasets" in msg


def test_missing_explicit_dir_reports_what_is_missing(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as info:
        datasets.find_mnist_dir(tmp_path)
    msg = str(info.value)
    assert str(tmp_path.resolve()) in msg and "data_dir argument" in msg
    assert "t10k-labels-idx1-ubyte" in msg and "missing train-images" not in msg


def test_find_via_env_with_or_without_mnist_subfolder(tmp_path, monkeypatch):
    fake_mnist(tmp_path / "data" / "mnist")
    monkeypatch.setattr(datasets, "_REPO_ROOT", tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DENDROSIM_DATA", str(tmp_path / "data"))
    assert datasets.find_mnist_dir() == (tmp_path / "data" / "mnist").resolve()
    monkeypatch.setenv("DENDROSIM_DATA", str(tmp_path / "data" / "mnist"))
    assert datasets.find_mnist_dir() == (tmp_path / "data" / "mnist").resolve()


def test_find_via_repo_data_dir(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    fake_mnist(root / "data" / "mnist", gz=False)
    monkeypatch.delenv("DENDROSIM_DATA", raising=False)
    monkeypatch.setattr(datasets, "_REPO_ROOT", root)
    assert datasets.find_mnist_dir() == (root / "data" / "mnist").resolve()


# --------------------------------------------------------------------------- #
# real MNIST
# --------------------------------------------------------------------------- #
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def mnist_dir_or_skip() -> Path:
    """The real MNIST directory, or skip the test explaining why it is missing."""
    try:
        return datasets.find_mnist_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"real MNIST not available: {exc}")


@pytest.mark.mnist
@pytest.mark.parametrize(
    "split, n, counts", [("train", 60000, TRAIN_COUNTS), ("test", 10000, TEST_COUNTS)]
)
def test_real_mnist(split, n, counts):
    d = mnist_dir_or_skip()
    x, y = datasets.load_mnist(d, split)  # verify=True: checksums must pass
    assert x.shape == (n, 784) and x.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == counts
    assert x.min() == 0.0 and x.max() == 1.0
    # 255 * pixel is an integer: scaling is exactly pixel / 255
    np.testing.assert_allclose(x * 255, np.round(x * 255), atol=1e-9)


@pytest.mark.mnist
def test_real_mnist_checksums():
    d = mnist_dir_or_skip()
    shapes = {
        "train-images-idx3-ubyte": (60000, 28, 28),
        "train-labels-idx1-ubyte": (60000,),
        "t10k-images-idx3-ubyte": (10000, 28, 28),
        "t10k-labels-idx1-ubyte": (10000,),
    }
    for stem, shape in shapes.items():
        path = d / stem if (d / stem).is_file() else d / (stem + ".gz")
        arr = datasets.read_idx(path, verify=True)  # raises on checksum mismatch
        assert arr.dtype == np.uint8 and arr.shape == shape


@pytest.mark.mnist
def test_real_mnist_cached():
    d = mnist_dir_or_skip()
    datasets.load_mnist(d, "test")
    hits = datasets._cached_read.cache_info().hits
    t0 = time.perf_counter()
    x, _ = datasets.load_mnist(d, "test")
    assert datasets._cached_read.cache_info().hits >= hits + 2
    assert time.perf_counter() - t0 < 2.0
    x[:] = -1  # mutating the result must not touch the cache
    assert datasets.load_mnist(d, "test")[0].min() == 0.0


@pytest.mark.mnist
def test_real_mnist_splits():
    d = mnist_dir_or_skip()
    s = datasets.mnist_splits(d)
    assert {k: v[0].shape for k, v in s.items()} == {
        "train": (55000, 784),
        "validation": (5000, 784),
        "test": (10000, 784),
    }
    assert {k: v[1].shape for k, v in s.items()} == {
        "train": (55000,),
        "validation": (5000,),
        "test": (10000,),
    }
    x, y = datasets.load_mnist(d, "train")
    np.testing.assert_array_equal(s["validation"][0], x[55000:])
    np.testing.assert_array_equal(s["validation"][1], y[55000:])
    np.testing.assert_array_equal(s["train"][1], y[:55000])

    a = datasets.mnist_splits(d, seed=1)
    b = datasets.mnist_splits(d, seed=1)
    np.testing.assert_array_equal(a["validation"][1], b["validation"][1])
    np.testing.assert_array_equal(a["validation"][0], b["validation"][0])
    assert a["train"][0].shape == (55000, 784) and a["validation"][0].shape == (5000, 784)
    assert not np.array_equal(a["validation"][1], s["validation"][1])
    # train and validation together are the whole training set
    assert np.bincount(np.concatenate([a["train"][1], a["validation"][1]]), minlength=10).tolist() == TRAIN_COUNTS
