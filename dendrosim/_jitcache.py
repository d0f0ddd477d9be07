"""Keep numba's on-disk cache consistent with the package's numba sources.

numba keys each cached function by its own source file (a hash of the file's
contents in numba 0.68, its modification time in older versions), but the cached
machine code also contains every ``@njit`` function it calls or inlines from other
files. After an edit of, say, ``engine/rng.py``, the cached kernels of
``engine/fused.py`` would keep running the old noise generator; after an edit that
changes a callee's arguments, they can crash. At import we hash the sources of all
numba modules; when the hash differs from the one recorded with the caches, every
numba cache file of the package is deleted, so numba recompiles it all once.

Installed (read-only) packages are skipped silently: a fresh install comes with no
caches of its own. A process started before an edit can still write kernels compiled
from the old sources after the purge; ``python -c "import dendrosim._jitcache as j;
j.purge()"`` clears the caches by hand.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_PKG = Path(os.path.abspath(__file__)).parent
SOURCES = ["vecmath.py", "model/transfer.py", "model/soma.py", "model/dendrites.py", "model/plasticity.py",
           "model/noise.py", "network.py", "ensemble.py", "engine/params.py", "engine/rng.py",
           "engine/rhs.py", "engine/integrators.py", "engine/loop.py", "engine/fused.py", "engine/simd.py",
           "engine/lanes.py", "bench_floor.py"]
_STAMP = _PKG / "__pycache__" / "jit_sources_v2.sha256"   # v2: purge (v1 touched, which numba 0.68 ignores)


def sources_digest() -> str:
    h = hashlib.sha256()
    for name in SOURCES:
        p = _PKG / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()


def cache_dir(name: str) -> Path:
    """The folder numba caches the kernels of source file ``name`` (relative to the package) in:
    under ``$NUMBA_CACHE_DIR`` if set (numba names that folder ``<dir>_<sha1 of dir>``), else
    ``__pycache__`` beside the source (read-only installs fall back to a per-user folder of
    numba's own, not covered here)."""
    src_dir = os.path.dirname(str(_PKG / name))
    user_dir = os.environ.get("NUMBA_CACHE_DIR")
    if user_dir:
        return Path(user_dir) / "_".join([os.path.basename(src_dir), hashlib.sha1(src_dir.encode()).hexdigest()])
    return Path(src_dir) / "__pycache__"


def cache_dirs() -> set[Path]:
    """Every folder that may hold caches of the package's modules: ``__pycache__`` beside each
    source and, if set, the folders under ``$NUMBA_CACHE_DIR`` (:func:`cache_dir`)."""
    return {Path(os.path.dirname(str(_PKG / name))) / "__pycache__" for name in SOURCES} | {
        cache_dir(name) for name in SOURCES}


def purge() -> int:
    """Delete every numba cache file (index ``.nbi`` and data ``.nbc``) of the package."""
    n = 0
    for d in cache_dirs():
        if d.is_dir():
            for p in list(d.glob("*.nbi")) + list(d.glob("*.nbc")):
                p.unlink(missing_ok=True)
                n += 1
    return n


def refresh() -> bool:
    """Purge the numba caches if the sources changed since they were written; True if purged."""
    try:
        digest = sources_digest()
        if _STAMP.exists() and _STAMP.read_text().strip() == digest:
            return False
        purge()
        _STAMP.parent.mkdir(exist_ok=True)
        _STAMP.write_text(digest + "\n")
        return True
    except OSError:
        return False
