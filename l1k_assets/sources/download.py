"""Fetch source files into a URL-keyed cache: resumable, retried, verified, atomic.

The LINCS matrices on GEO are tens of GB and public servers drop connections, throttle
and occasionally serve bad bytes, so a download here resumes where it stopped (``Range``),
retries transient failures with backoff, checks the published checksums before anything
reads the file, and only then renames it into the cache. A second run finds the file by
its URL and reuses it after re-hashing it against the sidecar written with it, so a file
changed on disk is fetched again rather than trusted. ``file://`` URLs (the embedded
mirror) go through the same verification without being copied.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import logging
import os
import posixpath
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import sleep
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests
import urllib3

from l1k_assets.errors import FormatError, SourceError
from l1k_assets.fileio import atomic_path, atomic_write_text

LOG = logging.getLogger("l1k.sources")

CHUNK_SIZE = 1 << 18
MAX_RETRY_AFTER_S = 120.0  # a server asking for longer is treated as asking for this long
CHECKSUM_ROUNDS = 2  # a checksum mismatch earns one fresh download, then it is an error
SIDECAR_SUFFIX = ".l1k.json"
PART_SUFFIX = ".part"
REQUEST_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "l1k (LINCS L1000 data platform)"}

# Failures of the connection rather than of the request: worth another attempt.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError)
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-\d+/(?:\d+|\*)")


@dataclass(frozen=True)
class FetchedFile:
    """A verified local copy of a URL and what l1k records about it for lineage."""

    url: str
    path: Path
    sha256: str
    size: int
    from_cache: bool
    fetched_at: str  # ISO 8601, UTC


class _Retryable(Exception):
    """A transient failure; ``retry_after`` is the server's requested wait, if it gave one."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


class Downloader:
    """Fetches URLs into ``cache_dir`` with ``retries`` extra attempts, backoff doubling from ``backoff_s``."""

    def __init__(self, cache_dir: Path, retries: int = 4, backoff_s: float = 0.5, timeout_s: float = 60.0) -> None:
        if retries < 0 or backoff_s < 0 or timeout_s <= 0:
            raise ValueError(f"need retries >= 0, backoff_s >= 0, timeout_s > 0; got {retries}, {backoff_s}, {timeout_s}")
        self.cache_dir = Path(cache_dir)
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    def cache_path(self, url: str) -> Path:
        """``cache_dir/<scheme>/<host>/<url path>``, confined to the cache whatever the URL says.

        Dot segments are resolved the way the HTTP client resolves them (so ``..`` cannot climb
        out), and a query string becomes a hash prefix on the name so that the extension, which
        readers use to detect compression, is kept.
        """
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise SourceError(url, f"invalid port: {exc}") from exc
        if not parts.hostname:
            raise SourceError(url, "URL has no host")
        host = parts.hostname.lower() + (f"_{port}" if port else "")
        clean = posixpath.normpath("/" + unquote(parts.path).replace("\x00", "%00"))
        segments = [s for s in clean.split("/") if s]
        if not segments or parts.path.endswith("/"):
            segments.append("_index")
        if parts.query:
            segments[-1] = f"q{hashlib.sha256(parts.query.encode()).hexdigest()[:16]}_{segments[-1]}"
        return self.cache_dir.joinpath(parts.scheme.lower(), host.replace("/", "_"), *segments)

    def fetch(
        self,
        url: str,
        *,
        sha256: str | None = None,
        sha512: str | None = None,
        md5: str | None = None,
        refresh: bool = False,
    ) -> FetchedFile:
        """A verified local copy of ``url``: from the cache when still intact, else downloaded.

        Every checksum given must match; ``refresh`` downloads even when the cache is intact.
        Raises SourceError for anything that keeps the file from arriving intact.
        """
        expected = {alg: value.strip().lower() for alg, value in (("sha256", sha256), ("sha512", sha512), ("md5", md5)) if value}
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            return _fetch_local(url, expected)
        if scheme not in ("http", "https"):
            raise SourceError(url, f"unsupported URL scheme {scheme!r} (expected http, https or file)")
        path = self.cache_path(url)
        with _locked(path):
            cached = None if refresh else _cached(url, path, expected)
            if cached is not None:
                LOG.info("cache hit for %s at %s", url, path)
                return cached
            return self._download_verified(url, path, expected)

    def _download_verified(self, url: str, path: Path, expected: dict[str, str]) -> FetchedFile:
        """Download to ``<file>.part``, check the checksums, and only then rename onto ``path``."""
        part = path.with_name(path.name + PART_SUFFIX)
        problem = ""
        for round_ in range(CHECKSUM_ROUNDS):
            if round_:
                LOG.warning("%s: %s; downloading it once more", url, problem)
            validators = self._download(url, part)
            digests = _digests(part, {"sha256", *expected})
            problem = _mismatch(expected, digests)
            if not problem:
                return _commit(url, path, part, digests["sha256"], validators)
            part.unlink()
        raise SourceError(url, problem)

    def _download(self, url: str, part: Path) -> dict[str, str]:
        """Attempt until the body is complete or the retries are spent; returns the response's validators."""
        attempt = 1
        with requests.Session() as session:
            session.headers.update(REQUEST_HEADERS)
            while True:
                try:
                    return self._attempt(session, url, part, attempt)
                except _Retryable as exc:
                    if attempt > self.retries:
                        raise SourceError(url, f"{exc.problem} (gave up after {attempt} attempts)") from exc
                    delay = exc.retry_after if exc.retry_after is not None else self.backoff_s * 2 ** (attempt - 1)
                    LOG.warning("%s: %s; retry %d of %d in %.2f s", url, exc.problem, attempt, self.retries, delay)
                    sleep(delay)
                    attempt += 1

    def _attempt(self, session: requests.Session, url: str, part: Path, attempt: int) -> dict[str, str]:
        """One GET, resuming from the bytes already in ``part``."""
        offset = part.stat().st_size if part.exists() else 0
        if offset:
            LOG.info("GET %s (attempt %d), resuming at byte %d", url, attempt, offset)
        else:
            LOG.info("GET %s (attempt %d)", url, attempt)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with session.get(url, headers=headers, stream=True, timeout=self.timeout_s) as response:
                refused = response.status_code == 416 and offset > 0
                if not refused:
                    _receive(url, response, part, offset)
        except _TRANSIENT as exc:
            raise _Retryable(f"connection failed: {type(exc).__name__}: {exc}") from exc
        except requests.RequestException as exc:
            raise SourceError(url, f"request failed: {type(exc).__name__}: {exc}") from exc
        if refused:  # the partial file is as long as (or longer than) the file now is
            LOG.info("%s: server refused to resume at byte %d; starting over", url, offset)
            part.unlink()
            return self._attempt(session, url, part, attempt)
        return {"etag": response.headers.get("ETag", ""), "last_modified": response.headers.get("Last-Modified", "")}


def _receive(url: str, response: requests.Response, part: Path, offset: int) -> None:
    """Check the status, then append (206) or write (200) the body to ``part`` and check its length."""
    _check_status(url, response)
    append = _resumes(url, response, part, offset)
    start = offset if append else 0
    with open(part, "ab" if append else "wb") as fh:
        for block in response.raw.stream(CHUNK_SIZE, decode_content=False):
            fh.write(block)
    length = response.headers.get("Content-Length", "")
    received = part.stat().st_size
    if length.isdigit() and received != start + int(length):
        raise _Retryable(f"truncated body: received {received} of {start + int(length)} bytes")


def _check_status(url: str, response: requests.Response) -> None:
    """200/206 pass; 429 and 5xx are transient; every other status is final."""
    status = response.status_code
    if status in (200, 206):
        return
    problem = f"HTTP {status} {response.reason}".rstrip()
    if status == 429 or status >= 500:
        raise _Retryable(problem, _retry_after(response.headers.get("Retry-After")))
    raise SourceError(url, problem)


def _resumes(url: str, response: requests.Response, part: Path, offset: int) -> bool:
    """Whether the body continues ``part`` (a 206 starting at ``offset``) rather than replacing it."""
    if response.status_code == 200:
        if offset:
            LOG.info("%s: server ignored the range request; starting over", url)
        return False
    content_range = response.headers.get("Content-Range", "")
    match = _CONTENT_RANGE_RE.fullmatch(content_range)
    if match is None or int(match[1]) != offset:
        part.unlink(missing_ok=True)
        raise _Retryable(f"asked for bytes from {offset}, got Content-Range {content_range!r}; starting over")
    return True


def _retry_after(value: str | None) -> float | None:
    """A Retry-After in seconds, capped; HTTP-date forms are left to the normal backoff."""
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), MAX_RETRY_AFTER_S)


def _digests(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Several digests in one read: hashing a multi-GB file twice would double the cost."""
    hashers = {alg: hashlib.new(alg) for alg in algorithms}
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            for hasher in hashers.values():
                hasher.update(block)
    return {alg: hasher.hexdigest() for alg, hasher in hashers.items()}


def _mismatch(expected: dict[str, str], actual: dict[str, str]) -> str:
    """The first checksum that differs, described; empty when all match."""
    for alg, want in expected.items():
        if actual[alg] != want:
            return f"{alg} mismatch: expected {want}, got {actual[alg]}"
    return ""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on one cache entry, so parallel runs fetching one URL do not share a ``.part``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _cached(url: str, path: Path, expected: dict[str, str]) -> FetchedFile | None:
    """The cache entry if its bytes still hash to what the sidecar recorded and match ``expected``.

    An entry that fails is removed, so a fetch that then fails leaves nothing at the cache path.
    """
    try:
        record = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        record = None
    intact = isinstance(record, dict) and record.get("url") == url and path.is_file()
    if intact and path.stat().st_size == record.get("size"):
        digests = _digests(path, {"sha256", *expected})
        problem = "" if digests["sha256"] == record.get("sha256") else "its bytes no longer match the recorded sha256"
        problem = problem or _mismatch(expected, digests)
        if not problem:
            return FetchedFile(url, path, digests["sha256"], record["size"], True, str(record.get("fetched_at", "")))
        LOG.warning("cached copy of %s at %s is stale (%s); fetching again", url, path, problem)
    _sidecar(path).unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    return None


def _commit(url: str, path: Path, part: Path, sha256: str, validators: dict[str, str]) -> FetchedFile:
    """Rename the verified download onto the cache path, then write its sidecar."""
    size = part.stat().st_size
    os.replace(part, path)
    fetched_at = _now()
    record = {"url": url, "sha256": sha256, "size": size, **validators, "fetched_at": fetched_at}
    atomic_write_text(_sidecar(path), json.dumps(record, indent=1))
    LOG.info("fetched %s (%d bytes, sha256 %s)", url, size, sha256)
    return FetchedFile(url, path, sha256, size, False, fetched_at)


def _fetch_local(url: str, expected: dict[str, str]) -> FetchedFile:
    """A ``file://`` URL: verified and hashed in place, never copied."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(url, f"file URL names another host ({parts.netloc!r})")
    path = Path(url2pathname(parts.path))
    if not path.is_file():
        raise SourceError(url, f"file not found: {path}")
    digests = _digests(path, {"sha256", *expected})
    if problem := _mismatch(expected, digests):
        raise SourceError(url, problem)
    return FetchedFile(url, path, digests["sha256"], path.stat().st_size, False, _now())


def gunzip_to(src: Path, dest: Path) -> Path:
    """Decompress ``src`` into ``dest`` in chunks, atomically; returns ``dest``.

    Formats such as GCTX need random access, which a gzip stream cannot give. A truncated or
    corrupt stream is a FormatError and leaves no ``dest`` behind.
    """
    src, dest = Path(src), Path(dest)
    with atomic_path(dest) as tmp, gzip.open(src, "rb") as stream, open(tmp, "wb") as out:
        while block := _read_gzip(src, stream):
            out.write(block)
    return dest


def _read_gzip(src: Path, stream: gzip.GzipFile) -> bytes:
    """One decompressed chunk; errors of the stream (not of the disk) become a FormatError."""
    try:
        return stream.read(1 << 20)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise FormatError(src, "a complete gzip stream", found=f"{type(exc).__name__}: {exc}") from exc
