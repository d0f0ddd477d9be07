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
