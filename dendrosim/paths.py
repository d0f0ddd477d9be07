"""Per-user folders of dendrosim, following each platform's convention (no dependency).

================  ==========================================  ==============================================
platform          cache (compiled kernels)                    data (downloaded data sets)
================  ==========================================  ==============================================
Linux and others  ``$XDG_CACHE_HOME/dendrosim``               ``$XDG_DATA_HOME/dendrosim``
                  (default ``~/.cache/dendrosim``)            (default ``~/.local/share/dendrosim``)
macOS             ``~/Library/Caches/dendrosim``              ``~/Library/Application Support/dendrosim``
Windows           ``%LOCALAPPDATA%\\dendrosim\\Cache``        ``%LOCALAPPDATA%\\dendrosim``
================  ==========================================  ==============================================

Nothing is ever written inside the installed package: it may be read-only (a shared
environment on a cluster), and pip removes only the files it installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "dendrosim"


def _xdg(var: str, default: str) -> Path:
    """``$var`` if it holds an absolute path (the XDG rule: relative values are ignored), else ``~/default``."""
    value = os.environ.get(var, "")
    return Path(value) if os.path.isabs(value) else Path.home() / default


def _windows_local_appdata() -> Path:
    value = os.environ.get("LOCALAPPDATA", "")
    return Path(value) if value else Path.home() / "AppData" / "Local"


def user_cache_dir() -> Path:
    """The per-user cache folder of dendrosim (see the module's table)."""
    if sys.platform == "win32":
        return _windows_local_appdata() / APP / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP
    return _xdg("XDG_CACHE_HOME", ".cache") / APP


def user_data_dir() -> Path:
    """The per-user data folder of dendrosim (see the module's table); data sets go in subfolders."""
    if sys.platform == "win32":
        return _windows_local_appdata() / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    return _xdg("XDG_DATA_HOME", os.path.join(".local", "share")) / APP
