"""An edit of any numba source invalidates the cache of every numba module (dendrosim._jitcache)."""

from __future__ import annotations

import os

from dendrosim import _jitcache


def test_an_edit_of_one_source_touches_all(tmp_path, monkeypatch):
    for name in _jitcache.SOURCES:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# {name}\n")
        os.utime(p, (1_000_000, 1_000_000))
    monkeypatch.setattr(_jitcache, "_PKG", tmp_path)
    monkeypatch.setattr(_jitcache, "_STAMP", tmp_path / "__pycache__" / "stamp")
    assert _jitcache.refresh()                          # first import: stamp written, nothing touched
    assert os.stat(tmp_path / "engine/fused.py").st_mtime == 1_000_000
    assert not _jitcache.refresh()                      # unchanged sources: nothing to do
    (tmp_path / "vecmath.py").write_text("# edited\n")
    os.utime(tmp_path / "vecmath.py", (1_000_000, 1_000_000))   # even with the old mtime
    assert _jitcache.refresh()
    assert os.stat(tmp_path / "engine/fused.py").st_mtime > 1_000_000    # its cache is stale now
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
