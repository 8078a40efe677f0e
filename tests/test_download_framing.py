"""A hostile server cannot get an incomplete or spliced file committed to the cache as complete.

Each case runs against the real test server on 127.0.0.1 and checks both the error (or the
repaired result) and that nothing reached the cache path as a complete file.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from l1k_assets.errors import SourceError
from l1k_assets.sources import download
from l1k_assets.sources.download import Downloader, TransferLimits
from tests.httpserver import FileServer, serve_directory

BODY = random.Random(1).randbytes(1 << 20)  # 1 MiB
HALF = len(BODY) // 2


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FileServer]:
    (tmp_path / "www" / "data").mkdir(parents=True)
    (tmp_path / "www" / "data" / "body.bin").write_bytes(BODY)
    with serve_directory(tmp_path / "www") as srv:
        yield srv


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "sleep", lambda _seconds: None)


def _loader(tmp_path: Path, **options: object) -> Downloader:
    return Downloader(tmp_path / "cache", **{"retries": 3, "backoff_s": 0.0, "timeout_s": 10, **options})  # type: ignore[arg-type]


def _committed(loader: Downloader, url: str) -> bool:
    """Whether the cache holds the URL as a complete file (the file or its sidecar)."""
    path = loader.cache_path(url)
    return path.exists() or path.with_name(path.name + ".l1k.json").exists()


def _sidecar(loader: Downloader, url: str) -> dict:
    path = loader.cache_path(url)
    return json.loads(path.with_name(path.name + ".l1k.json").read_text())


# ---------------------------------------------------------------- framing


def test_an_unframed_body_cut_short_is_refused(server: FileServer, tmp_path: Path) -> None:
    """No Content-Length, no chunks, the connection closes after half the file: nothing proves it complete."""
    loader, url = _loader(tmp_path, retries=0), f"{server.url}/data/body.bin"
    server.unframed("/data/body.bin", HALF)
    with pytest.raises(SourceError, match="neither a Content-Length nor a chunked body") as info:
        loader.fetch(url)
    assert info.value.url == url and not _committed(loader, url)
    assert not list(loader.cache_path(url).parent.glob("body.bin*"))


def test_an_unframed_body_is_accepted_with_a_checksum_or_marked_unverified(server: FileServer, tmp_path: Path) -> None:
    url = f"{server.url}/data/body.bin"
    server.unframed("/data/body.bin", HALF)  # cut: the published checksum catches it, and the refetch is whole
    checked = _loader(tmp_path / "a").fetch(url, sha256=hashlib.sha256(BODY).hexdigest())
    assert checked.path.read_bytes() == BODY and checked.completeness == "length"  # the refetch was framed
    server.unframed("/data/body.bin")  # whole, but unframed
    loose = _loader(tmp_path / "b", allow_unframed=True)
    kept = loose.fetch(url)
    assert kept.path.read_bytes() == BODY and kept.completeness == "unverified"
    assert _sidecar(loose, url)["completeness"] == "unverified"


def test_a_plain_get_answered_with_part_of_the_file_is_not_complete(server: FileServer, tmp_path: Path) -> None:
    """``206 bytes 0-524287/1048576`` to a request without Range: half a file, not a file."""
    url = f"{server.url}/data/body.bin"
    strict = _loader(tmp_path / "a", retries=0)
    server.cap_ranges("/data/body.bin", HALF)
    with pytest.raises(SourceError, match=f"incomplete: {HALF} of {len(BODY)} bytes"):
        strict.fetch(url)
    assert not _committed(strict, url)
    server.cap_ranges("/data/body.bin", HALF)
    resumed = _loader(tmp_path / "b")
    assert resumed.fetch(url).path.read_bytes() == BODY  # the rest fetched with a checked resume
    assert [(r.range, r.status) for r in server.requests[-2:]] == [(None, 206), (f"bytes={HALF}-", 206)]


def test_a_resume_answered_with_a_few_bytes_is_resumed_again(server: FileServer, tmp_path: Path) -> None:
    """Each answer carries 1,000 bytes with a truthful Content-Range: every one is checked against the total."""
    url = f"{server.url}/data/body.bin"
    strict = _loader(tmp_path / "a", retries=2)
    server.cap_ranges("/data/body.bin", 1000, times=3)
    with pytest.raises(SourceError, match=f"incomplete: 3000 of {len(BODY)} bytes"):
        strict.fetch(url)
    assert not _committed(strict, url)
    server.requests.clear()
    server.cap_ranges("/data/body.bin", 1000, times=3)
    fetched = _loader(tmp_path / "b").fetch(url)
    assert fetched.path.read_bytes() == BODY and fetched.completeness == "length"
    assert [(r.range, r.status) for r in server.requests] == [
        (None, 206),
        ("bytes=1000-", 206),
        ("bytes=2000-", 206),
        ("bytes=3000-", 206),
    ]


def test_a_resume_from_the_wrong_offset_starts_over(server: FileServer, tmp_path: Path) -> None:
    loader, url = _loader(tmp_path), f"{server.url}/data/body.bin"
    server.drop_after("/data/body.bin", 600_000)
    server.shift_ranges("/data/body.bin", 0)  # a proxy answers "bytes=N-" with the file from byte 0
    assert loader.fetch(url).path.read_bytes() == BODY
    assert [(r.status, r.range is None) for r in server.requests] == [(200, True), (206, False), (200, True)]


# ---------------------------------------------------------------- versions


def test_a_file_reissued_between_attempts_is_fetched_whole_not_spliced(server: FileServer, tmp_path: Path) -> None:
    """GEO re-issues files: the resume's If-Range carries the old ETag, and the server answers with the new file."""
    loader, url = _loader(tmp_path), f"{server.url}/data/body.bin"
    new = random.Random(2).randbytes(len(BODY))
    server.drop_after("/data/body.bin", HALF)
    server.reissue("/data/body.bin", new, after=1)  # re-issued right after the first (dropped) response
    fetched = loader.fetch(url)
    assert fetched.path.read_bytes() == new
    assert [(r.range is not None, r.status) for r in server.requests] == [(False, 200), (True, 200)]


# ---------------------------------------------------------------- slow servers and the deadline


def test_a_trickling_server_is_cut_at_the_minimum_rate(server: FileServer, tmp_path: Path) -> None:
    url = f"{server.url}/data/body.bin"
    loader = _loader(tmp_path, retries=0, limits=TransferLimits(min_rate_bps=1000, rate_window_s=0.3))
    server.trickle("/data/body.bin", 0.02)  # 50 bytes a second
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"slower than 1000 B/s"):
        loader.fetch(url)
    assert time.monotonic() - started < 5 and not _committed(loader, url)


def test_a_transfer_past_its_deadline_stops_and_keeps_its_partial_file(server: FileServer, tmp_path: Path) -> None:
    url = f"{server.url}/data/body.bin"
    loader = _loader(tmp_path, limits=TransferLimits(deadline_s=0.5, min_rate_bps=0))
    server.trickle("/data/body.bin", 0.02)
    with pytest.raises(SourceError, match=r"deadline of 0\.5 s"):
        loader.fetch(url)
    assert not _committed(loader, url)
    part = loader.cache_path(url).with_name("body.bin.part")
    assert 0 < part.stat().st_size < len(BODY)  # kept for a later run to resume


# ---------------------------------------------------------------- redirects and names


def test_a_redirect_to_another_host_is_refused_unless_allowed(server: FileServer, tmp_path: Path) -> None:
    port = server.url.rsplit(":", 1)[1]
    server.redirect("/data/moved.bin", f"http://localhost:{port}/data/body.bin")
    url = f"{server.url}/data/moved.bin"
    strict = _loader(tmp_path / "a")
    with pytest.raises(SourceError, match=r"redirected to another host \(http://localhost:\d+/data/body\.bin\)"):
        strict.fetch(url)
    assert not _committed(strict, url)
    allowed = _loader(tmp_path / "b", redirect_hosts=("localhost",))
    fetched = allowed.fetch(url)
    assert fetched.path.read_bytes() == BODY and fetched.final_url == f"http://localhost:{port}/data/body.bin"
    assert _sidecar(allowed, url)["final_url"] == fetched.final_url and _sidecar(allowed, url)["url"] == url


def test_a_same_host_redirect_is_followed_and_its_final_url_recorded(server: FileServer, tmp_path: Path) -> None:
    server.redirect("/data/old.bin", "/data/body.bin", status=301)
    loader = _loader(tmp_path)
    fetched = loader.fetch(f"{server.url}/data/old.bin")
    assert fetched.final_url == f"{server.url}/data/body.bin" and fetched.path.read_bytes() == BODY
    assert fetched.path == loader.cache_path(f"{server.url}/data/old.bin")  # cached under the URL asked for


def test_a_very_long_file_name_is_hashed_into_the_cache(server: FileServer, tmp_path: Path) -> None:
    name = "x" * 300 + ".txt.gz"
    server.set_file(f"/data/{name}", BODY)
    loader = _loader(tmp_path)
    fetched = loader.fetch(f"{server.url}/data/{name}")
    assert fetched.path.read_bytes() == BODY and len(fetched.path.name) < 100 and fetched.path.name.endswith(".txt.gz")
    assert fetched.path.is_relative_to(tmp_path / "cache")
