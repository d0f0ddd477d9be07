"""An edit of any numba source invalidates the cache of every numba module (dendrosim._jitcache)."""

from __future__ import annotations

import hashlib

from dendrosim import _jitcache


def test_an_edit_of_one_source_purges_every_cache(tmp_path, monkeypatch):
    """numba 0.68 stamps a cache with a hash of its own file's contents, so an edit of a callee
    leaves the caller's cache looking fresh: every cache file of the package must go."""
    for name in _jitcache.SOURCES:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# {name}\n")
    monkeypatch.setattr(_jitcache, "_PKG", tmp_path)
    monkeypatch.setattr(_jitcache, "_STAMP", tmp_path / "__pycache__" / "stamp")
    user = tmp_path / "user_cache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(user))

    def caches():
        """One fake cache per source, in-tree and in NUMBA_CACHE_DIR (numba's folder names)."""
        files = []
        for d in _jitcache.cache_dirs():
            d.mkdir(parents=True, exist_ok=True)
            for ext in ("nbi", "1.nbc"):
                f = d / f"fused.run_block_euler-100.py311.{ext}"
                f.write_bytes(b"x")
                files.append(f)
        return files

    engine = str(tmp_path / "engine")
    assert user / ("engine_" + hashlib.sha1(engine.encode()).hexdigest()) in _jitcache.cache_dirs()
    assert tmp_path / "engine" / "__pycache__" in _jitcache.cache_dirs()
    files = caches()
    assert _jitcache.refresh()                          # no record of the sources: purge
    assert not any(f.exists() for f in files)
    files = caches()
    assert not _jitcache.refresh()                      # unchanged sources: caches kept
    assert all(f.exists() for f in files)
    (tmp_path / "engine/rng.py").write_text("# edited\n")
    assert _jitcache.refresh()                          # one callee edited: every cache goes
    assert not any(f.exists() for f in files)
    assert not _jitcache.refresh()


def test_every_numba_module_and_every_module_of_kernel_constants_is_listed():
    """numba freezes globals into cached code: a module with @njit functions, or one whose
    constants those functions read (layout columns, parameter indices), must be in SOURCES."""
    import re
    from pathlib import Path
    pkg = Path(_jitcache.__file__).parent
    listed = set(_jitcache.SOURCES)
    for p in pkg.rglob("*.py"):
        rel = p.relative_to(pkg).as_posix()
        if re.search(r"^@(njit|intrinsic)", p.read_text(), re.M):
            assert rel in listed, f"{rel} compiles numba code but is not in _jitcache.SOURCES"
    assert {"network.py", "engine/params.py"} <= listed
