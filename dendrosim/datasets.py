"""MNIST from local IDX files (this module never downloads; ``dendrosim data mnist`` does,
see :mod:`dendrosim.data_fetch`).

The four standard files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``) may be gzip-compressed
(``.gz``) or raw. The SHA-256 of the *decompressed* bytes is checked against
:data:`MNIST_SHA256`, so canonical downloads and re-compressed copies are both
accepted. Where the files are looked for: see :func:`find_mnist_dir`.

Images come back as ``(n, 784)`` floats in ``[0, 1]`` (pixel / 255, row-major
28 x 28). Labels come back as ``(n,)`` int64 in ``0..9``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

from . import paths

__all__ = [
    "MNIST_FILES",
    "MNIST_SHA256",
    "find_mnist_dir",
    "read_idx",
    "load_mnist",
    "mnist_splits",
]

#: File stems (without ``.gz``) for each split: ``split -> (images, labels)``.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: SHA-256 of the decompressed (raw IDX) files. The matching raw MD5s are the
#: canonical ones (6bbc9ace..., a25bea73..., 2646ac64..., 27ae3e4e...).
#: Checksums of .gz files are not used here: the same content can be
#: compressed in more than one way.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

ENV_VAR = "DENDROSIM_DATA"
#: Where the original files are served: the commonly used public mirror first, the original site last.
MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)
#: The original gzip files as served by :data:`MNIST_URLS`: ``name -> (bytes, SHA-256)``.
MNIST_GZ: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}

# Repository root (the folder holding dendrosim/). Tests may monkeypatch this.
_REPO_ROOT = Path(__file__).resolve().parents[1]

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_ALL_STEMS = tuple(s for pair in MNIST_FILES.values() for s in pair)


# --------------------------------------------------------------------------- #
# locating the files
# --------------------------------------------------------------------------- #
def _file_in(directory: Path, stem: str) -> Path | None:
    """``directory/stem`` (raw) or ``directory/stem.gz``, whichever exists (raw first)."""
    for name in (stem, stem + ".gz"):
        p = directory / name
        if p.is_file():
            return p
    return None


def _why_not(directory: Path) -> str | None:
    """None if *directory* holds all four MNIST files, else the reason it does not."""
    if not directory.is_dir():
        return "no such directory"
    missing = [s for s in _ALL_STEMS if _file_in(directory, s) is None]
    if missing:
        return "missing " + ", ".join(s + "[.gz]" for s in missing)
    return None


def _candidates(data_dir) -> list[tuple[Path, str]]:
    """Ordered ``(directory, where-it-came-from)`` pairs to search."""
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        return [(d, "data_dir argument"), (d / "mnist", "data_dir argument")]
    out: list[tuple[Path, str]] = []
    env = os.environ.get(ENV_VAR)
    if env:
        d = Path(env).expanduser()
        out += [(d, f"${ENV_VAR}"), (d / "mnist", f"${ENV_VAR}")]
    root = Path(_REPO_ROOT)
    out += [
        (root / "data" / "mnist", "repository data/mnist"),
        (paths.user_data_dir() / "mnist", "user data folder (dendrosim data mnist)"),
        (root.parent / "shared" / "data" / "mnist", "../shared/data/mnist from repository root"),
        (Path.cwd().parent / "shared" / "data" / "mnist", "../shared/data/mnist from working directory"),
    ]
    return out


def find_mnist_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the directory holding the four MNIST IDX files (raw or ``.gz``).

    An explicit *data_dir* is the only place searched (it or its ``mnist/``
    subfolder). Otherwise, in order: ``$DENDROSIM_DATA`` (itself or
    ``$DENDROSIM_DATA/mnist``), the repository's ``data/mnist``, ``mnist/`` in
    the user data folder (where ``dendrosim data mnist`` puts the files, e.g.
    ``~/.local/share/dendrosim/mnist``; :func:`dendrosim.paths.user_data_dir`), and
    ``../shared/data/mnist`` relative to the repository root and to the
    current working directory.

    Raises
    ------
    FileNotFoundError
        Naming every place searched, why each failed, and how to fix it.
    """
    tried: list[str] = []
    seen: set[Path] = set()
    for d, source in _candidates(data_dir):
        try:
            key = d.resolve()
        except OSError:
            key = d.absolute()
        if key in seen:
            continue
        seen.add(key)
        reason = _why_not(d)
        if reason is None:
            return key
        tried.append(f"  - {key}  [{source}]: {reason}")
    files = ", ".join(_ALL_STEMS)
    raise FileNotFoundError(
        "MNIST IDX files not found. Searched:\n"
        + "\n".join(tried)
        + f"\nTo fix: run `dendrosim data mnist` (downloads the four files from {MNIST_URLS[0]} or "
        f"{MNIST_URLS[1]} into {paths.user_data_dir() / 'mnist'} and checks them), or set {ENV_VAR} to "
        f"a folder that contains the four files (or has an mnist/ subfolder holding them). "
        f"Needed: {files} (gzip .gz or raw)."
    )


# --------------------------------------------------------------------------- #
# IDX parsing
# --------------------------------------------------------------------------- #
def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped if the file is gzip (detected by magic, not by name)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt gzip stream ({exc})") from exc
    return data


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    """Parse IDX bytes into a read-only array (big-endian dtype as stored)."""
    if len(data) < 4:
        raise ValueError(f"{name}: {len(data)} bytes, too short for an IDX header (4 bytes)")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{name}: bad IDX magic number 0x{magic:08x} (first two bytes must be zero); "
            "not an IDX file"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(
            f"{name}: unknown IDX type code 0x{code:02x} in magic 0x{magic:08x} "
            f"(known: {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)})"
        )
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{name}: truncated header: {ndim} dimensions need {header} bytes, file has {len(data)}"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[code]
    count = math.prod(dims)
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes"
        raise ValueError(
            f"{name}: length mismatch ({what}): header says shape {dims} of {dtype.str[1:]} "
            f"-> {expected} bytes, file has {len(data)}"
        )
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)


@functools.lru_cache(maxsize=8)
def _cached_read(path_str: str, mtime_ns: int, size: int) -> tuple[np.ndarray, str, str]:
    """(read-only native-endian array, sha256 of decompressed bytes, sha256 of file).

    Keyed on modification time and size so an edited file is re-read.
    """
    path = Path(path_str)
    file_bytes = path.read_bytes()
    file_sha = hashlib.sha256(file_bytes).hexdigest()
    del file_bytes
    data = _read_bytes(path)
    raw_sha = hashlib.sha256(data).hexdigest()
    arr = _parse_idx(data, str(path))
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    arr.flags.writeable = False
    return arr, raw_sha, file_sha


def _sums_file_entry(path: Path) -> str | None:
    """Expected hash of *path* from a ``SHA256SUMS`` file beside it, if listed."""
    sums = path.parent / "SHA256SUMS"
    if not sums.is_file():
        return None
    for line in sums.read_text(errors="replace").splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[1].lstrip("*") == path.name:
            return parts[0].lower()
    return None


def _verify(path: Path, raw_sha: str, file_sha: str) -> None:
    stem = path.name[:-3] if path.name.endswith(".gz") else path.name
    expected = MNIST_SHA256.get(stem)
    if expected is None:
        raise ValueError(
            f"{path}: no known SHA-256 for {stem!r} (known: {', '.join(MNIST_SHA256)}); "
            "pass verify=False to skip the check"
        )
    if raw_sha != expected:
        raise ValueError(
            f"{path}: SHA-256 of decompressed content mismatch: expected {expected}, got {raw_sha}"
        )
    listed = _sums_file_entry(path)
    if listed is not None and listed != file_sha:
        raise ValueError(
            f"{path}: SHA-256 mismatch against {path.parent / 'SHA256SUMS'}: "
            f"expected {listed}, got {file_sha}"
        )


def _read_cached(path: Path, verify: bool) -> np.ndarray:
    st = path.stat()
    arr, raw_sha, file_sha = _cached_read(str(path.resolve()), st.st_mtime_ns, st.st_size)
    if verify:
        _verify(path, raw_sha, file_sha)
    return arr


def read_idx(path: str | os.PathLike, verify: bool = False) -> np.ndarray:
    """Read one IDX file (gzip or raw) into a new writeable native-endian array.

    The shape and dtype come from the header (e.g. ``(60000, 28, 28)`` uint8).
    With ``verify=True`` the decompressed SHA-256 must match
    ``MNIST_SHA256[name without .gz]`` (and a ``SHA256SUMS`` file beside the
    file, if it lists it).

    Raises ValueError, naming the file, for a bad header, a wrong length, a
    corrupt gzip stream or a checksum mismatch.
    """
    return _read_cached(Path(path), verify).copy()


# --------------------------------------------------------------------------- #
# MNIST
# --------------------------------------------------------------------------- #
def _load_raw(data_dir, split: str, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Cached read-only (images (n, rows, cols) uint8, labels (n,) uint8)."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    d = find_mnist_dir(data_dir)
    img_stem, lab_stem = MNIST_FILES[split]
    img_path, lab_path = _file_in(d, img_stem), _file_in(d, lab_stem)
    images = _read_cached(img_path, verify)
    labels = _read_cached(lab_path, verify)
    if images.ndim != 3:
        raise ValueError(f"{img_path}: expected 3-d images (n, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{lab_path}: expected 1-d labels, got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{img_path} has {images.shape[0]} images but {lab_path} has {labels.shape[0]} labels"
        )
    return images, labels


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    verify: bool = True,
    dtype=np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one official MNIST split.

    Parameters
    ----------
    data_dir : folder with the IDX files, or None to search (see :func:`find_mnist_dir`).
    split : ``'train'`` (60,000 examples) or ``'test'`` (10,000).
    verify : check the SHA-256 of the decompressed files.
    dtype : floating dtype of the images.

    Returns
    -------
    images : (n, 784) array of *dtype*, pixel / 255 in [0, 1]
    labels : (n,) int64 in 0..9

    The decoded files are cached in memory; every call returns fresh arrays.
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type (images are scaled to [0, 1]), got {dtype}")
    images, labels = _load_raw(data_dir, split, verify)
    x = images.reshape(images.shape[0], -1).astype(dtype)
    x /= dtype.type(255)
    return x, labels.astype(np.int64)


def mnist_splits(
    data_dir: str | os.PathLike | None = None,
    n_validation: int = 5000,
    seed=None,
    verify: bool = True,
    dtype=np.float64,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The paper's train / validation / test split (55,000 / 5,000 / 10,000 by default).

    Validation is taken from the official training set: its last
    *n_validation* examples when *seed* is None, otherwise a random subset
    drawn with ``np.random.default_rng(seed)``. Both parts keep the official
    order. The test set is the official one.

    Returns ``{'train': (X, y), 'validation': (X, y), 'test': (X, y)}`` with
    X of shape (n, 784) in [0, 1] and y of shape (n,) int64.
    """
    x, y = load_mnist(data_dir, "train", verify=verify, dtype=dtype)
    n = x.shape[0]
    n_validation = int(n_validation)
    if not 0 <= n_validation < n:
        raise ValueError(f"n_validation must be in [0, {n}), got {n_validation}")
    if seed is None:
        cut = n - n_validation
        train = (x[:cut], y[:cut])
        val = (x[cut:], y[cut:])
    else:
        perm = np.random.default_rng(seed).permutation(n)
        val_idx = np.sort(perm[:n_validation])
        train_idx = np.sort(perm[n_validation:])
        train = (x[train_idx], y[train_idx])
        val = (x[val_idx], y[val_idx])
    return {
        "train": train,
        "validation": val,
        "test": load_mnist(data_dir, "test", verify=verify, dtype=dtype),
    }
