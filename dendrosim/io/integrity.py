"""Is this file whole? Truncation and damage found before HDF5 reads it.

An SWMR reader skips HDF5's end-of-file check, so a truncated file used to read back as
zeros, and HDF5's metadata retry loop could spin for ever on a damaged one. Here:

* :func:`superblock` parses the HDF5 superblock (versions 0-3): where the file must end.
* :func:`check` compares the file's size with that end: a shorter file is ``truncated``
  (unless a writer holds the lock: a live file grows before its superblock says so).
* :func:`probe` opens the file and reads all its metadata in a child process with a time
  limit, so a damaged file gives an error instead of a hang.
"""

from __future__ import annotations

import os
import signal
import struct
import time
from dataclasses import dataclass
from pathlib import Path

SIGNATURE = b"\x89HDF\r\n\x1a\n"
FLAG_WRITE, FLAG_SWMR_WRITE = 0x01, 0x04


class DamagedFileError(OSError):
    """The file is truncated, not HDF5, or HDF5 cannot read its metadata."""


@dataclass(frozen=True)
class Superblock:
    offset: int         # where the superblock starts (after a user block)
    version: int
    flags: int          # file consistency flags (versions 2, 3: open for write / SWMR write)
    base: int           # base address, bytes
    eof: int            # end-of-file address relative to base, bytes

    @property
    def end(self) -> int:
        """Size in bytes the file must have at least."""
        return self.base + self.eof


def superblock(path) -> Superblock:
    """Parse the superblock of ``path``; :class:`DamagedFileError` if there is none."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        off = 0
        while off == 0 or off < size:
            fh.seek(off)
            head = fh.read(96)
            if head[:8] == SIGNATURE:
                break
            off = 512 if off == 0 else off * 2
        else:
            raise DamagedFileError(f"{path} is damaged or not an HDF5 file (no HDF5 signature)")
    if len(head) < 12:
        raise DamagedFileError(f"{path} is truncated ({size} bytes: the HDF5 superblock is incomplete)")
    version = head[8]
    if version in (0, 1):
        so, flags, at = head[13], struct.unpack_from("<I", head, 20)[0], 24 if version == 0 else 28
    elif version in (2, 3):
        so, flags, at = head[9], head[11], 12
    else:
        raise DamagedFileError(f"{path} is damaged (unknown HDF5 superblock version {version})")
    if so not in (2, 4, 8):
        raise DamagedFileError(f"{path} is damaged (HDF5 superblock offset size {so})")
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[so]
    need = at + 4 * so
    if len(head) < need:
        raise DamagedFileError(f"{path} is truncated ({size} bytes: the HDF5 superblock is incomplete)")
    base = struct.unpack_from(fmt, head, at)[0]
    eof = struct.unpack_from(fmt, head, at + 2 * so)[0]   # after base and one more address
    return Superblock(off, version, flags, base, eof)


def check(path, live: bool = False) -> Superblock:
    """Raise :class:`DamagedFileError` if ``path`` is shorter than its superblock says.

    ``live``: a writer holds the file (its size may run ahead of or behind the superblock
    between flushes): only the signature and the superblock are checked.
    """
    sb = superblock(path)
    size = Path(path).stat().st_size
    if not live and size < sb.end:
        raise DamagedFileError(f"{path} is truncated: {size} bytes of the {sb.end} its HDF5 superblock "
                               "records (if its run stopped on a full disk, `dendrosim run --resume` "
                               "recovers it up to its last checkpoint)")
    return sb


def rows_present(f, lengths: dict) -> list[str]:
    """Names of datasets whose first ``lengths[name]`` rows (or, for datasets not in
    ``lengths``, all of whose storage) are not wholly inside the file ``f`` (a truncated file:
    what is missing). Chunked datasets are checked chunk by chunk, others by their extent."""
    import h5py
    size = Path(f.filename).stat().st_size
    missing = []

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        full = "/" + name
        dsid = obj.id
        if obj.chunks is None:
            off = dsid.get_offset()
            if off is not None and off + dsid.get_storage_size() > size:
                missing.append(full)
            return
        n = lengths.get(full, obj.shape[0] if obj.ndim else 0)
        if obj.ndim == 0 or n == 0:
            return
        for i in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(i)
            if info.chunk_offset[0] < n and info.byte_offset + info.size > size:
                missing.append(full)
                return
    f.visititems(visit)
    return missing


def _read_all(path, swmr):
    """Open ``path`` and touch every object's metadata (child side of :func:`probe`)."""
    import h5py
    ways = [{"libver": "latest", "swmr": True}] if swmr else [{}, {"locking": False}]
    for i, kw in enumerate(ways):      # HDF5 may insist on the locking flags of another handle
        try:
            f = h5py.File(path, "r", **kw)
            break
        except OSError:
            if i == len(ways) - 1:
                raise
    with f:
        dict(f.attrs)

        def visit(name, obj):
            dict(obj.attrs)
            if isinstance(obj, h5py.Dataset):
                _ = (obj.shape, obj.dtype, obj.chunks)
        f.visititems(visit)


def probe(path, swmr: bool, timeout: float = 20.0) -> None:
    """Open ``path`` and read its metadata in a forked child; :class:`DamagedFileError` if
    that fails or takes longer than ``timeout`` seconds (HDF5 retrying for ever)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                       # child: never returns
        code = 0
        try:
            os.close(r)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _read_all(path, swmr)
        except BaseException as e:     # noqa: BLE001  (everything is reported to the parent)
            code = 3
            try:
                os.write(w, str(e).splitlines()[0].encode()[:500] if str(e) else type(e).__name__.encode())
            except Exception:          # noqa: BLE001
                pass
        os._exit(code)
    os.close(w)
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise DamagedFileError(f"{path} is damaged: HDF5 did not finish reading its metadata "
                                       f"within {timeout:.0f} s")
            time.sleep(0.01)
    except BaseException:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        os.close(r)
        raise
    msg = os.read(r, 600).decode("utf-8", "replace")
    os.close(r)
    if os.waitstatus_to_exitcode(status) != 0:
        raise DamagedFileError(f"{path} is damaged: HDF5 cannot read it ({msg or 'no reason given'})")
