"""Keep numba's on-disk cache consistent with the package's numba sources.

numba keys each cached function by the modification time of its own source file,
but the cached machine code also contains every ``@njit`` function it calls or
inlines from other files. After an edit of, say, ``vecmath.py``, the cached
kernels of ``engine/fused.py`` would keep running the old code. At import we hash
the sources of all numba modules; when the hash changed since the last import,
every one of them is touched, so numba recompiles them all once.

Installed (read-only) packages are skipped silently: a fresh install has fresh
modification times anyway.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent
SOURCES = ["vecmath.py", "transfer.py", "network.py", "ensemble.py", "engine/params.py", "engine/rng.py",
           "engine/rhs.py", "engine/integrators.py", "engine/loop.py", "engine/fused.py"]
_STAMP = _PKG / "__pycache__" / "jit_sources.sha256"


def sources_digest() -> str:
    h = hashlib.sha256()
    for name in SOURCES:
        p = _PKG / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()


def refresh() -> bool:
    """Touch the numba modules if their sources changed since the last call; True if touched."""
    try:
        digest = sources_digest()
        if _STAMP.exists() and _STAMP.read_text().strip() == digest:
            return False
        if _STAMP.exists():           # a change since the last import: invalidate every cached kernel
            for name in SOURCES:
                p = _PKG / name
                if p.exists():
                    os.utime(p)
        _STAMP.parent.mkdir(exist_ok=True)
        _STAMP.write_text(digest + "\n")
        return True
    except OSError:
        return False
