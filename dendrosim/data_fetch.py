"""Download a data set into the user's data folder, verified (``dendrosim data mnist [--to DIR]``).

Each file is fetched from the first mirror that serves it, written to ``NAME.part`` beside its
final place, checked against its pinned SHA-256 and only then renamed to ``NAME`` (an atomic
rename: a complete file is never replaced by a partial one, and a file under its final name
is always a verified one). A dropped connection is resumed where it stopped (HTTP ``Range``)
or retried; a file that does not match its checksum is deleted and reported. Files already
present and verified are not downloaded again. Only the standard library is used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from . import paths
from .datasets import MNIST_GZ, MNIST_URLS

CHUNK = 1 << 16   # bytes read at a time


class DownloadError(RuntimeError):
    """A file could not be fetched from any mirror, or did not match its checksum."""


class _Incomplete(OSError):
    """The server closed the connection before the announced number of bytes."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _fetch_into(url: str, part: Path, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (resuming with a ``Range`` request when ``part`` holds
    a beginning already; from the start if the server ignores the range). Raises on a short body."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "dendrosim"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:   # nothing left to send: the part may be complete, the checksum decides
            return
        raise
    with response:
        resumed = have and response.status == 206
        announced = response.headers.get("Content-Length")
        expected = int(announced) + (have if resumed else 0) if announced is not None else None
        with open(part, "ab" if resumed else "wb") as f:
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
    size = part.stat().st_size
    if expected is not None and size < expected:
        raise _Incomplete(f"connection closed after {size} of {expected} bytes")


def fetch_file(name: str, sha256: str, to: Path, mirrors: Sequence[str], *, attempts: int = 4,
               timeout: float = 60.0, pause_s: float = 2.0, log: Callable[[str], None] = print) -> Path:
    """Download ``name`` from the first of ``mirrors`` (base URLs ending in ``/``) that serves it
    into folder ``to``, verified against ``sha256``. Up to ``attempts`` tries per mirror, each
    resuming the previous one; ``pause_s`` seconds (times the attempt number) between tries.
    Returns the file's path; raises :class:`DownloadError` naming every mirror's failure."""
    target, part = to / name, to / (name + ".part")
    failures = []
    for base in mirrors:
        url = base + name
        fresh_retry = False
        attempt = 0
        while attempt < attempts:
            attempt += 1
            resuming = part.exists() and part.stat().st_size > 0
            log(f"  {name}: {'resuming' if resuming else 'downloading'} {url}")
            try:
                _fetch_into(url, part, timeout)
            except urllib.error.HTTPError as e:   # the mirror answered: no point in asking again
                failures.append(f"{url}: HTTP {e.code} {e.reason}")
                break
            except (OSError, http.client.HTTPException) as e:   # refused, reset, timed out, cut short
                failures.append(f"{url}: {e}")
                if attempt < attempts:
                    time.sleep(pause_s * attempt)
                continue
            got = sha256_of(part)
            if got == sha256:
                os.replace(part, target)
                return target
            part.unlink()
            failures.append(f"{url}: SHA-256 mismatch (expected {sha256}, got {got})")
            if resuming and not fresh_retry:   # the kept beginning may be the bad part: once from zero
                fresh_retry = True
                attempt = 0
                continue
            break
    kept = f" (the partial download {part.name} is kept and resumed next time)" if part.exists() else ""
    raise DownloadError(f"{name}: no verified copy could be fetched; nothing was written to {target}{kept}.\n"
                        + "\n".join("  - " + f for f in failures))


def fetch(files: Mapping[str, str], to: str | os.PathLike, mirrors: Sequence[str], **options) -> Path:
    """Make folder ``to`` hold every file of ``files`` (``name -> SHA-256``), verified: files already
    there with the right checksum are kept, the others downloaded with :func:`fetch_file`."""
    log = options.get("log", print)
    to = Path(to).expanduser()
    to.mkdir(parents=True, exist_ok=True)
    for name, sha256 in files.items():
        if (to / name).is_file():
            if sha256_of(to / name) == sha256:
                log(f"  {name}: present, verified")
                continue
            log(f"  {name}: present but not the pinned file (SHA-256 differs): fetching it again")
        fetch_file(name, sha256, to, mirrors, **options)
        log(f"  {name}: downloaded, verified")
    return to.resolve()


def mnist_dir() -> Path:
    """Where ``dendrosim data mnist`` puts MNIST by default: ``mnist/`` in the user data folder."""
    return paths.user_data_dir() / "mnist"


def fetch_mnist(to: str | os.PathLike | None = None, mirrors: Sequence[str] | None = None, **options) -> Path:
    """The four original MNIST files (:data:`dendrosim.datasets.MNIST_GZ`) from ``mirrors``
    (default :data:`dendrosim.datasets.MNIST_URLS`) into ``to`` (default :func:`mnist_dir`, where
    the loader looks); returns the folder."""
    files = {name: sha for name, (_, sha) in MNIST_GZ.items()}
    return fetch(files, mnist_dir() if to is None else to, MNIST_URLS if mirrors is None else mirrors, **options)


def data_main(dataset: str, to: str | None) -> int:
    """``dendrosim data DATASET [--to DIR]``: exit 0 with the folder printed, 1 if a download failed."""
    if dataset != "mnist":   # argparse restricts the choice; kept for callers from Python
        print(f"dendrosim data: unknown data set {dataset!r} (known: mnist)", file=sys.stderr)
        return 2
    print(f"MNIST into {Path(to).expanduser() if to else mnist_dir()}")
    try:
        folder = fetch_mnist(to)
    except (DownloadError, OSError) as e:
        print(f"dendrosim data: {e}", file=sys.stderr)
        return 1
    print(f"MNIST: the four files are in {folder}")
    if to is not None and folder != mnist_dir().resolve():
        print(f"(set DENDROSIM_DATA={folder} so that dendrosim finds them there)")
    return 0
