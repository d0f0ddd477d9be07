"""Per-user folders follow each platform's convention (dendrosim.paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dendrosim import paths


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path / "home"))
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def test_linux_follows_xdg(home, monkeypatch, tmp_path):
    monkeypatch.setattr(paths.sys, "platform", "linux")
    assert paths.user_cache_dir() == home / ".cache" / "dendrosim"
    assert paths.user_data_dir() == home / ".local" / "share" / "dendrosim"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    assert paths.user_cache_dir() == tmp_path / "c" / "dendrosim"
    assert paths.user_data_dir() == tmp_path / "d" / "dendrosim"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")      # the XDG rule: only absolute paths
    assert paths.user_cache_dir() == home / ".cache" / "dendrosim"


def test_macos(home, monkeypatch):
    monkeypatch.setattr(paths.sys, "platform", "darwin")
    assert paths.user_cache_dir() == home / "Library" / "Caches" / "dendrosim"
    assert paths.user_data_dir() == home / "Library" / "Application Support" / "dendrosim"


def test_windows(home, monkeypatch, tmp_path):
    monkeypatch.setattr(paths.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert paths.user_cache_dir() == tmp_path / "Local" / "dendrosim" / "Cache"
    assert paths.user_data_dir() == tmp_path / "Local" / "dendrosim"
