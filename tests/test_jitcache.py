"""An edit of any numba source invalidates the cache of every numba module (dendrosim._jitcache)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dendrosim import _jitcache


def test_an_edit_of_one_source_purges_every_cache(tmp_path, monkeypatch):
    """numba 0.68 stamps a cache with a hash of its own file's contents, so an edit of a callee
    leaves the caller's cache looking fresh: every cache file of the package must go."""
    for name in _jitcache.SOURCES:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# {name}\n")
    monkeypatch.setattr(_jitcache, "_PKG", tmp_path)
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
    assert _jitcache.stamp_path().parent == user / ("_".join([tmp_path.name, hashlib.sha1(str(tmp_path).encode())
                                                              .hexdigest()]))
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


# --------------------------------------------------------------------------- #
# where the kernels are cached: never inside the package
# --------------------------------------------------------------------------- #
_COMPILE_ONE = """
import sys
if sys.argv[1] == "numba-first":
    import numba  # noqa: F401  (numba reads NUMBA_CACHE_DIR here, before dendrosim sets it)
import numpy as np
from dendrosim.engine import rng
out = np.empty(8)
rng.fill_normal(rng.seed_state(np.random.SeedSequence(1)), out)
print(rng.fill_normal.stats.cache_hits.most_common(1)[0][1] if rng.fill_normal.stats.cache_hits else 0)
"""


def _files(root):
    import os
    return {os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs}


def _numba_files(root):
    return {f for f in _files(root) if f.endswith((".nbi", ".nbc"))}


def _run_from_copy(tmp_path, order, extra_env):
    """Compile one cached kernel of a read-only copy of the package, from another folder."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
    env.update(PYTHONPATH=str(tmp_path / "site"), HOME=str(tmp_path / "home"), **extra_env)
    r = subprocess.run([sys.executable, "-c", _COMPILE_ONE, order], env=env, cwd=tmp_path / "elsewhere",
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[-1])


def test_kernels_are_cached_in_the_user_cache_folder_never_in_the_package(tmp_path):
    """A read-only copy of the package, numba imported before dendrosim (so numba read the
    environment before dendrosim chose the folder): the kernels land in
    ``$XDG_CACHE_HOME/dendrosim/numba/engine_<sha1 of the engine folder>`` and nothing at all is
    written inside the package; a second process loads them from there instead of compiling."""
    import os
    import shutil
    import stat
    pkg = Path(_jitcache.__file__).parent
    copy = tmp_path / "site" / "dendrosim"
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for d in ("home", "elsewhere", "xdg"):
        (tmp_path / d).mkdir()
    before = _files(copy)
    for p in [copy, *copy.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        assert _run_from_copy(tmp_path, "numba-first", {"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == 0
        assert _run_from_copy(tmp_path, "dendrosim-first", {"XDG_CACHE_HOME": str(tmp_path / "xdg")}) >= 1
    finally:
        for p in [copy, *copy.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    assert _files(copy) == before
    engine = os.path.abspath(copy / "engine")
    where = tmp_path / "xdg" / "dendrosim" / "numba" / ("engine_" + hashlib.sha1(engine.encode()).hexdigest())
    assert any(f.startswith(str(where) + os.sep) and "fill_normal" in f for f in _numba_files(tmp_path / "xdg"))
    assert not _numba_files(tmp_path / "home")


def test_numba_cache_dir_set_by_the_user_is_respected(tmp_path):
    import shutil
    shutil.copytree(Path(_jitcache.__file__).parent, tmp_path / "site" / "dendrosim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for d in ("home", "elsewhere", "xdg", "mine"):
        (tmp_path / d).mkdir()
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "NUMBA_CACHE_DIR": str(tmp_path / "mine")}
    assert _run_from_copy(tmp_path, "numba-first", env) == 0
    assert any("fill_normal" in f for f in _numba_files(tmp_path / "mine"))
    assert not _numba_files(tmp_path / "xdg") and not _numba_files(tmp_path / "site")


def test_an_unwritable_cache_folder_falls_back_to_a_per_user_temporary_folder(tmp_path, monkeypatch):
    import os
    import tempfile

    import numba.core.config
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.delenv("NUMBA_CACHE_DIR")           # restored afterwards, as is numba's setting
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", numba.core.config.CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    monkeypatch.setattr(_jitcache.sys, "platform", "linux")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    root = _jitcache.configure()
    assert root.parent.parent == tmp_path / "tmp" and root.parent.name.startswith("dendrosim-")
    assert os.environ["NUMBA_CACHE_DIR"] == str(root) == numba.core.config.CACHE_DIR
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert _jitcache.configure() == tmp_path / "cache" / "dendrosim" / "numba" == Path(numba.core.config.CACHE_DIR)
