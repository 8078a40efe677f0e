"""A real HTTP file server for tests, with the failures real servers have, injectable per path.

The downloader's retry, resume and verification paths only mean something against real
sockets: a mock cannot drop a connection half-way through a body. This server serves a
folder the way GEO's FTP-over-HTTPS tree does (files, ``Range`` requests, HTML directory
indexes) and the way an S3 bucket does (``GET /<bucket>?list-type=2&prefix=...`` answers
ListObjectsV2 XML, a page of ``s3_page_size`` keys at a time, with ETags), and can be told to
answer an error status, cut a body short, or flip its bytes.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import html
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


class Request(NamedTuple):
    """One request as the server saw it."""

    method: str
    path: str
    range: str | None
    status: int


@dataclass
class _Fault:
    """An injected misbehaviour; ``times`` None means every time."""

    times: int | None
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    n_bytes: int = 0
    start: int = 0
    seconds: float = 0.0


class _Unsatisfiable(Exception):
    """The requested range starts past the end of the file."""


def _key(path: str) -> str:
    """One spelling per URL path: leading slash, no trailing slash."""
    return "/" + path.strip("/")


class FileServer:
    """Serves ``root`` on 127.0.0.1 (a free port) with fault injection; see ``serve_directory``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._files: dict[str, tuple[bytes, float]] = {}
        self._failures: dict[str, _Fault] = {}
        self._drops: dict[str, _Fault] = {}
        self._corruptions: dict[str, _Fault] = {}
        self._unframed: dict[str, _Fault] = {}
        self._range_caps: dict[str, _Fault] = {}
        self._range_shifts: dict[str, _Fault] = {}
        self._trickles: dict[str, _Fault] = {}
        self._redirects: dict[str, _Fault] = {}
        self._reissues: dict[str, tuple[int, bytes]] = {}
        self._httpd = _HTTPServer(self)
        self._thread: threading.Thread | None = None
        self.s3_page_size = 1000  # S3's own page size; tests lower it to exercise continuation tokens

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> None:
        """Serve from a background thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def set_file(self, path: str, data: bytes) -> None:
        """Add or replace the content at ``path`` (in memory; the root folder is left untouched)."""
        with self._lock:
            self._files[_key(path)] = (bytes(data), time.time())

    def fail(self, path: str, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer ``status`` (with ``headers``, e.g. Retry-After) the next ``times`` requests for ``path``."""
        with self._lock:
            self._failures[_key(path)] = _Fault(times, status=status, headers=dict(headers or {}))

    def drop_after(self, path: str, n_bytes: int, times: int = 1) -> None:
        """Announce the full Content-Length but close the connection after ``n_bytes`` of body."""
        with self._lock:
            self._drops[_key(path)] = _Fault(times, n_bytes=n_bytes)

    def corrupt(self, path: str, times: int | None = None) -> None:
        """Serve ``path`` with every byte flipped, ``times`` times (None: until the server stops)."""
        with self._lock:
            self._corruptions[_key(path)] = _Fault(times)

    def unframed(self, path: str, n_bytes: int | None = None, times: int | None = 1) -> None:
        """Send ``path`` without Content-Length (or chunking), closing the connection after ``n_bytes`` (None: all)."""
        with self._lock:
            self._unframed[_key(path)] = _Fault(times, n_bytes=-1 if n_bytes is None else n_bytes)

    def cap_ranges(self, path: str, n_bytes: int, times: int | None = 1) -> None:
        """Answer ``path`` with 206 and at most ``n_bytes`` from the requested start (from 0 for a plain GET),
        with a truthful Content-Range: a server that sends a file piece by piece."""
        with self._lock:
            self._range_caps[_key(path)] = _Fault(times, n_bytes=n_bytes)

    def shift_ranges(self, path: str, start: int, times: int | None = 1) -> None:
        """Answer a range request for ``path`` from byte ``start`` instead of the one asked for (a broken proxy)."""
        with self._lock:
            self._range_shifts[_key(path)] = _Fault(times, start=start)

    def trickle(self, path: str, seconds_per_byte: float, times: int | None = 1) -> None:
        """Send ``path``'s body one byte every ``seconds_per_byte`` seconds."""
        with self._lock:
            self._trickles[_key(path)] = _Fault(times, seconds=seconds_per_byte)

    def reissue(self, path: str, data: bytes, after: int = 1) -> None:
        """Replace ``path``'s content (a re-issued file: new bytes, new ETag and date) once ``after`` requests were served."""
        with self._lock:
            self._reissues[_key(path)] = (after, bytes(data))

    def _count_for_reissue(self, path: str) -> None:
        with self._lock:
            pending = self._reissues.get(path)
            if pending is None:
                return
            left, data = pending
            if left > 0:
                self._reissues[path] = (left - 1, data)
                return
            del self._reissues[path]
            self._files[path] = (data, time.time() + 1)

    def redirect(self, path: str, location: str, status: int = 302, times: int | None = None) -> None:
        """Answer ``path`` with a redirect to ``location``."""
        with self._lock:
            self._redirects[_key(path)] = _Fault(times, status=status, headers={"Location": location})

    def _take(self, faults: dict[str, _Fault], path: str) -> _Fault | None:
        """The fault armed for ``path``, counting one use of it."""
        with self._lock:
            fault = faults.get(path)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del faults[path]
            return fault

    def _log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _file(self, path: str) -> tuple[bytes, float] | None:
        """Content and modification time of a file, in-memory files first; None when there is none."""
        with self._lock:
            if path in self._files:
                return self._files[path]
        local = self._local(path)
        if local is None or not local.is_file():
            return None
        return local.read_bytes(), local.stat().st_mtime

    def _listing(self, path: str) -> list[str] | None:
        """Entry names of a directory (folders end in ``/``), or None when ``path`` is not one."""
        local = self._local(path)
        names = {p.name + ("/" if p.is_dir() else "") for p in local.iterdir()} if local and local.is_dir() else set()
        prefix = path.rstrip("/") + "/"
        with self._lock:
            for key in self._files:
                if key.startswith(prefix):
                    rest = key[len(prefix) :]
                    names.add(rest if "/" not in rest else rest.split("/", 1)[0] + "/")
        if not names and not (local and local.is_dir()):
            return None
        return sorted(names)

    def _bucket_keys(self, bucket: str, prefix: str) -> list[tuple[str, bytes, float]]:
        """Every file below the bucket folder whose key starts with ``prefix``: (key, content, mtime), sorted by key."""
        folder = self._local(bucket)
        found: dict[str, tuple[bytes, float]] = {}
        if folder is not None and folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file():
                    found[path.relative_to(folder).as_posix()] = (path.read_bytes(), path.stat().st_mtime)
        with self._lock:
            for key, content in self._files.items():
                if key.startswith(bucket.rstrip("/") + "/"):
                    found[key[len(bucket.rstrip("/")) + 1 :]] = content
        return sorted((k, *v) for k, v in found.items() if k.startswith(prefix))

    def _local(self, path: str) -> Path | None:
        """The file under ``root`` that ``path`` names; None if it would be outside ``root``."""
        candidate = (self.root / path.lstrip("/")).resolve()
        return candidate if candidate.is_relative_to(self.root) else None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: FileServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet about clients that hang up (the downloader does, on purpose, after a drop)."""


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test log is ``FileServer.requests``."""

    def _respond(self, send_body: bool) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        path = _key(unquote(url.path))
        query = parse_qs(url.query)
        if query.get("list-type") == ["2"]:
            failure = owner._take(owner._failures, path)
            if failure is not None:
                self._send(path, failure.status, f"injected failure {failure.status}\n".encode(), send_body, failure.headers)
                return
            self._send(path, 200, _list_objects(owner, path, query), send_body, {"Content-Type": "application/xml"})
            return
        failure = owner._take(owner._failures, path)
        if failure is not None:
            self._send(path, failure.status, f"injected failure {failure.status}\n".encode(), send_body, failure.headers)
            return
        owner._count_for_reissue(path)
        moved = owner._take(owner._redirects, path)
        if moved is not None:
            self._send(path, moved.status, b"", send_body, moved.headers)
            return
        content = owner._file(path)
        if content is None:
            listing = owner._listing(path)
            if listing is None:
                self._send(path, 404, b"not found\n", send_body, {})
            else:
                self._send(path, 200, _index_page(path, listing), send_body, {"Content-Type": "text/html"})
            return
        self._send_file(path, *content, send_body=send_body)

    def _send_file(self, path: str, data: bytes, mtime: float, send_body: bool) -> None:
        owner = self.server.owner
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": f'"{hashlib.sha256(data).hexdigest()[:16]}"',
            "Last-Modified": email.utils.formatdate(mtime, usegmt=True),
            "Content-Type": "application/octet-stream",
        }
        if owner._take(owner._corruptions, path) is not None:
            data = bytes(b ^ 0xFF for b in data)
        if_range = self.headers.get("If-Range")
        honoured = if_range is None or if_range in (headers["ETag"], headers["Last-Modified"])  # RFC 9110 13.1.5
        try:
            span = _byte_range(self.headers.get("Range"), len(data)) if honoured else None
        except _Unsatisfiable:
            self._send(path, 416, b"", send_body, {**headers, "Content-Range": f"bytes */{len(data)}"})
            return
        cap = owner._take(owner._range_caps, path)
        if cap is not None:
            first = span[0] if span else 0
            span = (first, min(len(data), first + cap.n_bytes) - 1)
        shift = owner._take(owner._range_shifts, path) if span else None
        status, total = 200, len(data)
        if span is not None:
            status, (start, end) = 206, span
            start = shift.start if shift else start
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
            data = data[start : end + 1]
        unframed = owner._take(owner._unframed, path)
        if unframed is not None:
            self._send_unframed(path, status, data if unframed.n_bytes < 0 else data[: unframed.n_bytes], send_body, headers)
            return
        trickle = owner._take(owner._trickles, path)
        drop = owner._take(owner._drops, path)
        self._send(
            path, status, data, send_body, headers, cut=drop.n_bytes if drop else None, pace=trickle.seconds if trickle else 0
        )

    def _send_unframed(self, path: str, status: int, body: bytes, send_body: bool, headers: dict[str, str]) -> None:
        """A body without Content-Length, ended by closing the connection: nothing tells a short one from a whole one."""
        self.server.owner._log(Request(self.command, path, self.headers.get("Range"), status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if send_body:
            self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def _send(
        self,
        path: str,
        status: int,
        body: bytes,
        send_body: bool,
        headers: dict[str, str],
        cut: int | None = None,
        pace: float = 0.0,
    ) -> None:
        """Status, headers with the full Content-Length, then the body (only ``cut`` bytes of it, then hang up;
        one byte every ``pace`` seconds when pacing)."""
        self.server.owner._log(Request(self.command, path, self.headers.get("Range"), status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and pace:
            try:
                for i in range(len(body) if cut is None else cut):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(pace)
            except OSError:  # the client gave up on the trickle
                self.close_connection = True
                return
        elif send_body:
            self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) of a single-range request; None serves the whole file (no or ignorable header)."""
    match = _RANGE_RE.fullmatch(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # "bytes=-N": the last N bytes
        if int(last) == 0:
            raise _Unsatisfiable
        return max(size - int(last), 0), size - 1
    start = int(first)
    if last and int(last) < start:  # malformed: ignored, as RFC 9110 allows
        return None
    if start >= size:
        raise _Unsatisfiable
    return start, min(int(last), size - 1) if last else size - 1


def _list_objects(owner: FileServer, bucket: str, query: dict[str, list[str]]) -> bytes:
    """A ListObjectsV2 page as S3 writes it: Contents with Key, LastModified, ETag (the MD5), Size; then a token."""
    prefix = query.get("prefix", [""])[0]
    start = int(query.get("continuation-token", ["0"])[0])
    keys = owner._bucket_keys(bucket, prefix)
    page = keys[start : start + owner.s3_page_size]
    truncated = start + len(page) < len(keys)
    contents = "".join(
        f"<Contents><Key>{html.escape(key)}</Key>"
        f"<LastModified>{time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime(mtime))}</LastModified>"
        f"<ETag>&quot;{hashlib.md5(data).hexdigest()}&quot;</ETag><Size>{len(data)}</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        for key, data, mtime in page
    )
    token = f"<NextContinuationToken>{start + len(page)}</NextContinuationToken>" if truncated else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>{html.escape(bucket.strip('/'))}</Name><Prefix>{html.escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>"
        f"<MaxKeys>{owner.s3_page_size}</MaxKeys><IsTruncated>{str(truncated).lower()}</IsTruncated>{contents}{token}"
        "</ListBucketResult>"
    )
    return body.encode("utf-8")


def _index_page(path: str, names: list[str]) -> bytes:
    """A directory index like GEO's: a parent link and one ``<a href="name">name</a>`` per entry."""
    title = html.escape(path.rstrip("/") + "/")
    links = "\n".join(f'<a href="{quote(name)}">{html.escape(name)}</a>' for name in names)
    page = (
        f"<html><head><title>Index of {title}</title></head><body><h1>Index of {title}</h1>\n"
        f'<pre><a href="../">Parent Directory</a>\n{links}\n</pre></body></html>\n'
    )
    return page.encode("utf-8")


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[FileServer]:
    """A FileServer over ``root``, serving for the duration of the block."""
    server = FileServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
