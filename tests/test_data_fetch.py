"""`dendrosim data mnist`: verified, resumable downloads (dendrosim.data_fetch), against a local
HTTP server on 127.0.0.1 that serves the test's own small files."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from dendrosim import data_fetch, datasets, paths
from dendrosim.cli import main

from .test_datasets import fake_mnist


class Server:
    """Serves ``files`` (name -> bytes) with HTTP Range support. ``truncate[name] = k``: the next
    ``k`` responses for ``name`` announce the whole length but stop halfway and drop the connection.
    ``requests`` records (name, Range header) of every request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                if name not in server.files:
                    self.send_error(404)
                    return
                body, start = server.files[name], 0
                if rng:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if server.truncate.get(name, 0) > 0:
                    server.truncate[name] -= 1
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(rest)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FAST = {"pause_s": 0.0, "timeout": 10.0, "log": lambda msg: None}


def payload(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def test_downloads_verify_and_files_present_are_not_fetched_again(server, tmp_path):
    server.files = {"a.gz": payload(70_000, 1), "b.gz": payload(10, 2)}
    files = {name: sha(data) for name, data in server.files.items()}
    to = tmp_path / "to"
    assert data_fetch.fetch(files, to, [server.base], **FAST) == to.resolve()
    assert {p.name for p in to.iterdir()} == {"a.gz", "b.gz"}
    assert all((to / n).read_bytes() == d for n, d in server.files.items())
    n = len(server.requests)
    data_fetch.fetch(files, to, [server.base], **FAST)
    assert len(server.requests) == n                   # present and verified: nothing asked


def test_a_dropped_connection_is_resumed_where_it_stopped(server, tmp_path):
    data = payload(100_001, 3)
    server.files = {"a.gz": data}
    server.truncate = {"a.gz": 2}                      # two responses cut halfway, then a whole one
    path = data_fetch.fetch_file("a.gz", sha(data), tmp_path, [server.base], **FAST)
    assert path.read_bytes() == data and not (tmp_path / "a.gz.part").exists()
    half, quarter = 100_001 // 2, (100_001 - 100_001 // 2) // 2
    assert server.requests == [("a.gz", None), ("a.gz", f"bytes={half}-"), ("a.gz", f"bytes={half + quarter}-")]


def test_a_download_that_keeps_breaking_leaves_no_file_under_its_name(server, tmp_path):
    server.files = {"a.gz": payload(1000, 4)}
    server.truncate = {"a.gz": 99}
    with pytest.raises(data_fetch.DownloadError, match="closed after") as info:
        data_fetch.fetch_file("a.gz", sha(server.files["a.gz"]), tmp_path, [server.base], attempts=3, **FAST)
    assert not (tmp_path / "a.gz").exists()
    assert "a.gz.part is kept" in str(info.value) and len(server.requests) == 3
    server.truncate = {}                               # the next call resumes the kept part
    data_fetch.fetch_file("a.gz", sha(server.files["a.gz"]), tmp_path, [server.base], **FAST)
    assert (tmp_path / "a.gz").read_bytes() == server.files["a.gz"] and server.requests[-1][1] is not None


def test_a_corrupted_file_is_an_error_and_nothing_is_left(server, tmp_path):
    good = payload(5000, 5)
    server.files = {"a.gz": good[:-1] + bytes([good[-1] ^ 1])}   # one bit flipped
    with pytest.raises(data_fetch.DownloadError) as info:
        data_fetch.fetch_file("a.gz", sha(good), tmp_path, [server.base], **FAST)
    msg = str(info.value)
    assert "SHA-256 mismatch" in msg and sha(good) in msg and sha(server.files["a.gz"]) in msg
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_beginning_kept_from_before_is_fetched_again_from_zero(server, tmp_path):
    data = payload(3000, 6)
    server.files = {"a.gz": data}
    (tmp_path / "a.gz.part").write_bytes(b"\0" * 1000)           # a bad beginning: resuming it fails
    data_fetch.fetch_file("a.gz", sha(data), tmp_path, [server.base], **FAST)
    assert (tmp_path / "a.gz").read_bytes() == data
    assert [r for _, r in server.requests] == ["bytes=1000-", None]


def test_the_next_mirror_is_tried_when_one_fails(server, tmp_path):
    server.files = {"a.gz": payload(100, 7)}
    missing = server.base.replace("/mnist/", "/elsewhere/nothing-")  # 404 for every name
    path = data_fetch.fetch_file("a.gz", sha(server.files["a.gz"]), tmp_path, [missing, server.base], **FAST)
    assert path.read_bytes() == server.files["a.gz"]
    assert [name for name, _ in server.requests] == ["nothing-a.gz", "a.gz"]


def test_cli_puts_mnist_where_the_loader_finds_it(server, tmp_path, monkeypatch, capsys):
    """`dendrosim data mnist` into the user data folder, then datasets.load_mnist reads it from there
    with nothing else configured."""
    raw_sums = fake_mnist(tmp_path / "served")
    server.files = {p.name: p.read_bytes() for p in (tmp_path / "served").iterdir()}
    monkeypatch.setattr(data_fetch, "MNIST_URLS", (server.base,))
    monkeypatch.setattr(data_fetch, "MNIST_GZ", {n: (len(d), sha(d)) for n, d in server.files.items()})
    monkeypatch.setattr(datasets, "MNIST_SHA256", raw_sums)
    monkeypatch.setattr(paths, "user_data_dir", lambda: tmp_path / "user-data")
    monkeypatch.setattr(datasets, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.delenv("DENDROSIM_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="dendrosim data mnist"):
        datasets.find_mnist_dir()
    assert main(["data", "mnist"]) == 0
    where = (tmp_path / "user-data" / "mnist").resolve()
    assert str(where) in capsys.readouterr().out
    assert sorted(p.name for p in where.iterdir()) == sorted(server.files)
    assert datasets.find_mnist_dir() == where
    x, y = datasets.load_mnist(split="test")
    assert x.shape == (4, 784) and list(y) == [0, 1, 2, 3]


def test_cli_reports_a_failed_download_with_exit_1(server, tmp_path, monkeypatch, capsys):
    server.files = {"t10k-labels-idx1-ubyte.gz": b"not what was pinned"}
    monkeypatch.setattr(data_fetch, "MNIST_URLS", (server.base,))
    monkeypatch.setattr(data_fetch, "MNIST_GZ", {"t10k-labels-idx1-ubyte.gz": (5, sha(b"pinned"))})
    assert main(["data", "mnist", "--to", str(tmp_path / "d")]) == 1
    assert "SHA-256 mismatch" in capsys.readouterr().err
    assert list((tmp_path / "d").iterdir()) == []


def test_pinned_mnist_files_are_the_originals():
    """Sizes and SHA-256 of the original gzip files as distributed; the README in data/ lists the same."""
    text = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text()
    assert set(datasets.MNIST_GZ) == {s + ".gz" for s in datasets.MNIST_SHA256}
    for name, (size, digest) in datasets.MNIST_GZ.items():
        assert f"| {name} | {size:,} | {digest} |" in text, name
    for stem, digest in datasets.MNIST_SHA256.items():
        assert f"| {stem} |" in text and digest in text, stem
