"""Where numba caches the compiled kernels, and keeping that cache consistent with the sources.

**Where.** Never inside the package: an installed package may be read-only (a cluster's
shared environment), and pip removes only the files it installed, so kernels cached beside
the sources would outlive an uninstall and turn ``site-packages/dendrosim`` into a namespace
package that shadows a later install. :func:`configure` (called by ``import dendrosim``,
before any numba module of the package is imported) points numba at ``$NUMBA_CACHE_DIR`` if
the user set it, else at ``numba/`` in the per-user cache folder (:mod:`dendrosim.paths`,
e.g. ``~/.cache/dendrosim/numba``), or a per-user folder in the system's temporary folder if
that cannot be written. It sets both the environment variable (read by numba at its import,
and inherited by worker processes) and ``numba.config.CACHE_DIR`` (read when a cached
function is defined), so it works also when numba was imported first. It is one setting
per process: other packages' cached numba functions imported afterwards use the same folder.
Inside it numba keeps one subfolder per source folder, named after that folder's full path
(``<name>_<sha1 of path>``), so two checkouts or installs never share kernels.

**Consistency.** numba keys each cached function by its own source file (a hash of the
file's contents in numba 0.68, its modification time in older versions), but the cached
machine code also contains every ``@njit`` function it calls or inlines from other files.
After an edit of, say, ``engine/rng.py``, the cached kernels of ``engine/fused.py`` would
keep running the old noise generator; after an edit that changes a callee's arguments,
they can crash. At import we hash the sources of all numba modules; when the hash differs
from the one recorded with the caches (:func:`stamp_path`), every numba cache file of the
package is deleted, so numba recompiles it all once. A process started before an edit can
still write kernels compiled from the old sources after the purge; ``python -c "import
dendrosim._jitcache as j; j.purge()"`` clears the caches by hand.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from .paths import user_cache_dir

_PKG = Path(os.path.abspath(__file__)).parent
SOURCES = ["vecmath.py", "model/transfer.py", "model/soma.py", "model/dendrites.py", "model/plasticity.py",
           "model/noise.py", "model/pal.py", "network.py", "ensemble.py", "engine/params.py", "engine/rng.py",
           "engine/rhs.py", "engine/integrators.py", "engine/loop.py", "engine/fused.py", "engine/simd.py",
           "engine/lanes.py"]
ENV_VAR = "NUMBA_CACHE_DIR"
_STAMP_NAME = "jit_sources_v2.sha256"   # v2: purge (v1 touched, which numba 0.68 ignores)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


def _fallback_dir() -> Path:
    try:
        user = getpass.getuser()
    except Exception:   # no user name (some containers): the uid is as good
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"dendrosim-{user}" / "numba"


def configure() -> Path:
    """Point numba's cache at ``$NUMBA_CACHE_DIR`` if set, else at the per-user cache folder
    (``<user cache>/numba``; a per-user temporary folder if that is not writable). Sets the
    environment variable and, if numba is already imported, ``numba.config.CACHE_DIR``.
    Must run before the first ``@njit(cache=True)`` function of the package is defined.
    Returns the folder."""
    user_set = os.environ.get(ENV_VAR, "")
    if user_set:
        root = Path(user_set)
    else:
        root = user_cache_dir() / "numba"
        if not _writable(root):
            root = _fallback_dir()
        os.environ[ENV_VAR] = str(root)
    config = sys.modules.get("numba.core.config")
    if config is not None:   # numba read the variable when it was imported
        config.CACHE_DIR = str(root)
    return root


def cache_root() -> Path:
    """The folder numba caches into: ``$NUMBA_CACHE_DIR`` (set by :func:`configure`)."""
    return Path(os.environ.get(ENV_VAR) or user_cache_dir() / "numba")


def sources_digest() -> str:
    h = hashlib.sha256()
    for name in SOURCES:
        p = _PKG / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()


def cache_dir(name: str) -> Path:
    """The folder numba caches the kernels of source file ``name`` (relative to the package) in:
    ``<cache root>/<folder name>_<sha1 of the folder's full path>`` (numba's naming)."""
    src_dir = os.path.dirname(str(_PKG / name))
    return cache_root() / "_".join([os.path.basename(src_dir), hashlib.sha1(src_dir.encode()).hexdigest()])


def stamp_path() -> Path:
    """The record of the sources' hash: beside the caches of the package's top-level modules."""
    return cache_dir("__init__.py") / _STAMP_NAME


def cache_dirs() -> set[Path]:
    """Every folder that may hold caches of the package's modules: :func:`cache_dir` of each
    source and ``__pycache__`` beside it (where numba falls back to when the cache root cannot
    be written, and where versions before this scheme cached)."""
    return {Path(os.path.dirname(str(_PKG / name))) / "__pycache__" for name in SOURCES} | {
        cache_dir(name) for name in SOURCES}


def purge() -> int:
    """Delete every numba cache file (index ``.nbi`` and data ``.nbc``) of the package that can be
    deleted; returns how many were."""
    n = 0
    for d in cache_dirs():
        if d.is_dir():
            for p in list(d.glob("*.nbi")) + list(d.glob("*.nbc")):
                try:
                    p.unlink(missing_ok=True)
                    n += 1
                except OSError:   # a read-only install: numba cannot have written there either
                    pass
    return n


def refresh() -> bool:
    """Purge the numba caches if the sources changed since they were written; True if purged."""
    try:
        digest = sources_digest()
        stamp = stamp_path()
        if stamp.exists() and stamp.read_text().strip() == digest:
            return False
        purge()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")   # processes starting together
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)
        return True
    except OSError:
        return False
