"""Fetch source files into a URL-keyed cache: resumable, retried, verified, atomic.

The LINCS matrices on GEO and CLUE are tens of GB and public servers drop connections,
throttle, trickle, re-issue files and occasionally serve bad bytes. So a download here is
committed to the cache only when it is provably whole: the server framed the body
(Content-Length, the total of a Content-Range, or a terminated chunked body) and every byte
of that frame arrived, or a published checksum covers the file. A resume (``Range``) names
the version it continues (``If-Range`` with the ETag or Last-Modified stored beside the
``.part``), so a file re-issued between attempts comes back whole instead of spliced; each
206 is checked against the offset, the total and the ETag it should continue. Transfers
have an overall deadline and a minimum rate; redirects to another host are refused unless
allowed, and the final URL is recorded. Published checksums are checked before anything
reads the file, and only then is it renamed into the cache. A second run finds the file by
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
from pathlib import Path, PurePosixPath
from time import monotonic, sleep
from urllib.parse import unquote, urljoin, urlsplit
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
MAX_SEGMENT = 160  # bytes of a cache path segment; a longer URL segment is hashed (names stay under 255 with suffixes)
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
REQUEST_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "l1k (LINCS L1000 data platform)"}

# Failures of the connection rather than of the request: worth another attempt.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError)
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class TransferLimits:
    """How long one file may take: an overall deadline, and a minimum rate over a sliding window.

    The defaults suit a 30 GB LINCS matrix on a slow link (30 GB at 0.25 MB/s is 33 h): a
    transfer that stays below 16 KiB/s for five minutes is cut and resumed (a stalled or
    trickling server), and no file may take more than 36 hours in all, retries included.
    """

    deadline_s: float = 36 * 3600.0
    min_rate_bps: float = 16 * 1024.0
    rate_window_s: float = 300.0


@dataclass(frozen=True)
class FetchedFile:
    """A verified local copy of a URL and what l1k records about it for lineage.

    ``final_url`` is where the bytes came from after redirects; ``completeness`` how the file
    is known to be whole: ``length`` (Content-Length, or Content-Range totals), ``chunked`` (a
    terminated chunked body), ``checksum`` (only a published checksum), ``local`` (a file://
    URL) or ``unverified`` (none of these, accepted because the downloader allows unframed bodies).
    """

    url: str
    path: Path
    sha256: str
    size: int
    from_cache: bool
    fetched_at: str  # ISO 8601, UTC
    final_url: str = ""
    completeness: str = ""


class _Retryable(Exception):
    """A transient failure; ``retry_after`` is the server's requested wait, if it gave one."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


@dataclass
class _PartState:
    """What identifies the version a ``.part`` file holds, stored beside it: resume only that version.

    Without it a resume could splice the first half of one issue of a file onto the second half
    of a re-issued one; with it, the resume sends ``If-Range`` and a changed file comes back whole.
    """

    url: str
    final_url: str = ""
    etag: str = ""
    last_modified: str = ""
    total: int | None = None

    @classmethod
    def load(cls, part: Path, url: str) -> _PartState | None:
        try:
            record = json.loads(_state_path(part).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("url") != url:
            return None
        total = record.get("total")
        return cls(url, str(record.get("final_url", "")), str(record.get("etag", "")), str(record.get("last_modified", "")),
                   total if isinstance(total, int) else None)  # fmt: skip

    def validator(self) -> str | None:
        """The If-Range value: a strong ETag, else the Last-Modified date; None if the server gave neither."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified or None

    def save(self, part: Path) -> None:
        atomic_write_text(_state_path(part), json.dumps(self.__dict__))


def _state_path(part: Path) -> Path:
    return part.with_name(part.name + SIDECAR_SUFFIX)


def _discard(part: Path) -> None:
    """Forget a partial download and the version it was of."""
    part.unlink(missing_ok=True)
    _state_path(part).unlink(missing_ok=True)


@dataclass
class _Transfer:
    """One file's transfer across attempts: when it started, and what the last response told about it."""

    started: float
    final_url: str = ""
    etag: str = ""
    last_modified: str = ""
    completeness: str = ""


class Downloader:
    """Fetches URLs into ``cache_dir`` with ``retries`` extra attempts, backoff doubling from ``backoff_s``.

    A download is committed only when it is provably whole: the server framed the body
    (Content-Length, Content-Range totals or chunked encoding) or a published checksum covers
    it. ``allow_unframed`` accepts an unframed body without a checksum, recorded as ``unverified``.
    Redirects to another host are refused unless the host is in ``redirect_hosts``.
    """

    def __init__(
        self,
        cache_dir: Path,
        retries: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 60.0,
        limits: TransferLimits = TransferLimits(),
        allow_unframed: bool = False,
        redirect_hosts: tuple[str, ...] = (),
    ) -> None:
        if retries < 0 or backoff_s < 0 or timeout_s <= 0:
            raise ValueError(f"need retries >= 0, backoff_s >= 0, timeout_s > 0; got {retries}, {backoff_s}, {timeout_s}")
        if limits.deadline_s <= 0 or limits.min_rate_bps < 0 or limits.rate_window_s <= 0:
            raise ValueError(f"transfer limits must be positive (a minimum rate of 0 turns that check off), got {limits}")
        self.cache_dir = Path(cache_dir)
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.limits = limits
        self.allow_unframed = allow_unframed
        self.redirect_hosts = tuple(h.lower() for h in redirect_hosts)

    def cache_path(self, url: str) -> Path:
        """``cache_dir/<scheme>/<host>/<url path>``, confined to the cache whatever the URL says.

        Dot segments are resolved the way the HTTP client resolves them (so ``..`` cannot climb
        out), a query string becomes a hash prefix on the name so that the extension, which
        readers use to detect compression, is kept, and a segment too long for a file name is
        replaced by its hash (keeping its extension).
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
        return self.cache_dir.joinpath(parts.scheme.lower(), _short(host), *map(_short, segments))

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
            transfer = self._download(url, part, checksummed=bool(expected))
            digests = _digests(part, {"sha256", *expected})
            problem = _mismatch(expected, digests)
            if not problem:
                return _commit(url, path, part, digests["sha256"], transfer)
            _discard(part)
        raise SourceError(url, problem)

    def _download(self, url: str, part: Path, checksummed: bool) -> _Transfer:
        """Attempt until the body is complete or the retries (or the deadline) are spent."""
        transfer = _Transfer(started=monotonic())
        attempt = 1
        with requests.Session() as session:
            session.headers.update(REQUEST_HEADERS)
            while True:
                try:
                    self._attempt(session, url, part, attempt, transfer, checksummed)
                    return transfer
                except _Retryable as exc:
                    if attempt > self.retries:
                        raise SourceError(url, f"{exc.problem} (gave up after {attempt} attempts)") from exc
                    delay = exc.retry_after if exc.retry_after is not None else self.backoff_s * 2 ** (attempt - 1)
                    self._check_deadline(url, transfer, delay)
                    LOG.warning("%s: %s; retry %d of %d in %.2f s", url, exc.problem, attempt, self.retries, delay)
                    sleep(delay)
                    attempt += 1

    def _check_deadline(self, url: str, transfer: _Transfer, more: float = 0.0) -> None:
        if monotonic() + more - transfer.started > self.limits.deadline_s:
            raise SourceError(
                url, f"the transfer would exceed its deadline of {self.limits.deadline_s:g} s; the partial file is kept"
            )

    def _attempt(
        self, session: requests.Session, url: str, part: Path, attempt: int, transfer: _Transfer, checksummed: bool
    ) -> None:
        """One GET, resuming the bytes already in ``part`` when their version can be named (If-Range)."""
        offset = part.stat().st_size if part.exists() else 0
        state = _PartState.load(part, url) if offset else None
        validator = state.validator() if state else None
        if offset and validator is None:
            LOG.info("%s: the partial file's version is unknown (no ETag or Last-Modified kept); starting over", url)
            _discard(part)
            offset, state = 0, None
        headers = {"Range": f"bytes={offset}-", "If-Range": validator} if offset and validator else {}
        LOG.info("GET %s (attempt %d)%s", url, attempt, f", resuming at byte {offset}" if offset else "")
        try:
            response = self._get(session, url, headers, transfer)
            with response:
                if response.status_code == 416 and offset:
                    LOG.info("%s: server refused to resume at byte %d; starting over", url, offset)
                    _discard(part)
                    return self._attempt(session, url, part, attempt, transfer, checksummed)
                _check_status(url, response)
                self._receive(url, response, part, offset, state, transfer, checksummed)
        except _TRANSIENT as exc:
            raise _Retryable(f"connection failed: {type(exc).__name__}: {exc}") from exc
        except requests.RequestException as exc:
            raise SourceError(url, f"request failed: {type(exc).__name__}: {exc}") from exc
        return None

    def _get(self, session: requests.Session, url: str, headers: dict[str, str], transfer: _Transfer) -> requests.Response:
        """GET following redirects by hand: each hop is checked (same host, or one allowed) and the last one recorded."""
        current = url
        origin = (urlsplit(url).hostname or "").lower()
        for _ in range(MAX_REDIRECTS + 1):
            response = session.get(current, headers=headers, stream=True, timeout=self.timeout_s, allow_redirects=False)
            if response.status_code not in REDIRECTS or "Location" not in response.headers:
                transfer.final_url = current
                return response
            target = urljoin(current, response.headers["Location"])
            response.close()
            parts = urlsplit(target)
            host = (parts.hostname or "").lower()
            if parts.scheme not in ("http", "https"):
                raise SourceError(url, f"redirected to a {parts.scheme!r} URL: {target}")
            if host != origin and host not in self.redirect_hosts:
                raise SourceError(
                    url, f"redirected to another host ({target}); allow {host!r} in the redirect hosts to follow it"
                )
            LOG.info("%s: redirected to %s", current, target)
            current = target
        raise SourceError(url, f"more than {MAX_REDIRECTS} redirects")

    def _receive(
        self,
        url: str,
        response: requests.Response,
        part: Path,
        offset: int,
        state: _PartState | None,
        transfer: _Transfer,
        checksummed: bool,
    ) -> None:
        """Write the body to ``part`` (appending a verified continuation) and prove the file complete, or retry."""
        start, end, total = _body_span(url, response, part, offset, state)
        transfer.etag = response.headers.get("ETag", "")
        transfer.last_modified = response.headers.get("Last-Modified", "")
        if start == 0:
            _PartState(url, transfer.final_url, transfer.etag, transfer.last_modified, total).save(part)
        received = self._write_body(url, response, part, start, transfer)
        size = start + received
        if end is not None and received != end - start:
            raise _Retryable(f"truncated body: received {size} of {end} bytes")
        if total is not None:
            if size > total:
                _discard(part)
                raise _Retryable(f"received {size} bytes of a {total}-byte file; starting over")
            if size < total:
                raise _Retryable(f"incomplete: {size} of {total} bytes so far; resuming")
            transfer.completeness = "length"
        elif "chunked" in response.headers.get("Transfer-Encoding", "").lower():
            transfer.completeness = "chunked"  # urllib3 raises on a chunked body cut before its last chunk
        elif checksummed:
            transfer.completeness = "checksum"
        elif self.allow_unframed:
            LOG.warning("%s: no Content-Length and no published checksum; kept as unverified", url)
            transfer.completeness = "unverified"
        else:
            _discard(part)
            raise SourceError(
                url,
                "the server sent neither a Content-Length nor a chunked body, and no published checksum covers the file, "
                "so a connection closed early cannot be told from the end: refused (allow unframed downloads to keep it, "
                "marked unverified)",
            )

    def _write_body(self, url: str, response: requests.Response, part: Path, start: int, transfer: _Transfer) -> int:
        """Stream the body into ``part`` at ``start``; cut a transfer slower than the minimum rate or past the deadline."""
        limits = self.limits
        received = 0
        window_start, window_bytes = monotonic(), 0
        with open(part, "r+b" if start else "wb") as fh:
            fh.seek(start)
            fh.truncate()
            while block := response.raw.read1(CHUNK_SIZE, decode_content=False):
                fh.write(block)
                received += len(block)
                window_bytes += len(block)
                now = monotonic()
                self._check_deadline(url, transfer)
                if now - window_start >= limits.rate_window_s:
                    rate = window_bytes / (now - window_start)
                    if rate < limits.min_rate_bps:
                        raise _Retryable(
                            f"transfer slower than {limits.min_rate_bps:g} B/s ({rate:.0f} B/s over {now - window_start:.1f} s)"
                        )
                    window_start, window_bytes = now, 0
        return received


def _short(segment: str) -> str:
    """A URL segment as a file name: itself, or when too long its hash with its extension kept."""
    if len(segment.encode()) <= MAX_SEGMENT:
        return segment
    suffix = "".join(PurePosixPath(segment).suffixes)[-40:]
    return f"h{hashlib.sha256(segment.encode()).hexdigest()[:32]}{suffix}"


def _check_status(url: str, response: requests.Response) -> None:
    """200/206 pass; 429 and 5xx are transient; every other status is final."""
    status = response.status_code
    if status in (200, 206):
        return
    problem = f"HTTP {status} {response.reason}".rstrip()
    if status == 429 or status >= 500:
        raise _Retryable(problem, _retry_after(response.headers.get("Retry-After")))
    raise SourceError(url, problem)


def _body_span(
    url: str, response: requests.Response, part: Path, offset: int, state: _PartState | None
) -> tuple[int, int | None, int | None]:
    """Where the body goes (start), where it must end (exclusive, if known) and the file's total length (if known).

    A 200 replaces the partial file (the server ignored the range, or If-Range found the file
    changed). A 206 must continue exactly at ``offset`` of the same version: its Content-Range
    start, its total and its ETag are checked against what the partial file was, and anything
    else starts over rather than splicing two versions.
    """
    length = response.headers.get("Content-Length", "")
    if response.status_code == 200:
        if offset:
            LOG.info("%s: the server sent the whole file (changed since, or ranges ignored); starting over", url)
        _discard(part)
        size = int(length) if length.isdigit() else None
        return 0, size, size
    content_range = response.headers.get("Content-Range", "")
    match = _CONTENT_RANGE_RE.fullmatch(content_range)
    if match is None or int(match[1]) != offset:
        _discard(part)
        raise _Retryable(f"asked for bytes from {offset}, got Content-Range {content_range!r}; starting over")
    first, last = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if last < first or (length.isdigit() and int(length) != last - first + 1):
        _discard(part)
        raise _Retryable(f"Content-Range {content_range!r} disagrees with Content-Length {length!r}; starting over")
    etag = response.headers.get("ETag", "")
    if (
        offset
        and state is not None
        and ((state.total is not None and total != state.total) or (state.etag and etag and etag != state.etag))
    ):
        _discard(part)
        raise _Retryable(
            f"the file changed since the partial download (Content-Range {content_range!r}, ETag {etag!r}); starting over"
        )
    return first, last + 1, total


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
            fetched_at, final_url = str(record.get("fetched_at", "")), str(record.get("final_url", url))
            completeness = str(record.get("completeness", ""))
            return FetchedFile(url, path, digests["sha256"], record["size"], True, fetched_at, final_url, completeness)
        LOG.warning("cached copy of %s at %s is stale (%s); fetching again", url, path, problem)
    _sidecar(path).unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    return None


def _commit(url: str, path: Path, part: Path, sha256: str, transfer: _Transfer) -> FetchedFile:
    """Rename the verified download onto the cache path, then write its sidecar (URL, final URL, validators, proof)."""
    size = part.stat().st_size
    os.replace(part, path)
    _state_path(part).unlink(missing_ok=True)
    fetched_at = _now()
    record = {
        "url": url,
        "final_url": transfer.final_url,
        "sha256": sha256,
        "size": size,
        "etag": transfer.etag,
        "last_modified": transfer.last_modified,
        "completeness": transfer.completeness,
        "fetched_at": fetched_at,
    }
    atomic_write_text(_sidecar(path), json.dumps(record, indent=1))
    LOG.info("fetched %s (%d bytes, sha256 %s)", url, size, sha256)
    return FetchedFile(url, path, sha256, size, False, fetched_at, transfer.final_url, transfer.completeness)


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
    return FetchedFile(url, path, digests["sha256"], path.stat().st_size, False, _now(), url, "local")


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
