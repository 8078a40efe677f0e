"""The downloader, checksum lists and the test HTTP server, against real sockets and real public files."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l1k_assets.errors import FormatError, SourceError
from l1k_assets.sources import download
from l1k_assets.sources.checksums import parse_checksum_list
from l1k_assets.sources.download import MAX_RETRY_AFTER_S, Downloader, gunzip_to
from l1k_assets.sources.fetch_set import fetch_directory
from l1k_assets.sources.layout import geo_suppl_url
from l1k_assets.sources.listing import LINCS_GEO_ROLES, list_directory
from tests.httpserver import FileServer, Request, serve_directory

BODY = random.Random(0).randbytes(1_000_000)
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()
BODY_SHA512 = hashlib.sha512(BODY).hexdigest()
GPL97_MD5 = "6851cb0bedaab8c7b55f61dcf7074e44"  # from ../shared/data/PROVENANCE.md
GENE_INFO_MD5 = "271729d8568eed204af354b1c7d0c65f"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FileServer]:
    root = tmp_path / "www"
    (root / "data").mkdir(parents=True)
    (root / "data" / "body.bin").write_bytes(BODY)
    with serve_directory(root) as srv:
        yield srv


@pytest.fixture
def downloader(tmp_path: Path) -> Downloader:
    return Downloader(tmp_path / "cache", retries=3, backoff_s=0.01, timeout_s=10)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The downloader's waits, recorded instead of slept."""
    delays: list[float] = []
    monkeypatch.setattr(download, "sleep", delays.append)
    return delays


def _leftovers(path: Path) -> list[str]:
    """Files next to a cache path that belong to it (the file, its sidecar, its partial download)."""
    return sorted(p.name for p in path.parent.glob(path.name + "*")) if path.parent.exists() else []


# ---- fetching and the cache ------------------------------------------------------------


def test_fetch_records_sha256_and_then_hits_the_cache(server: FileServer, downloader: Downloader) -> None:
    url = f"{server.url}/data/body.bin"
    first = downloader.fetch(url, sha256=BODY_SHA256.upper())
    assert (first.sha256, first.size, first.from_cache) == (BODY_SHA256, len(BODY), False)
    assert first.path == downloader.cache_path(url)
    assert first.path.read_bytes() == BODY
    sidecar = json.loads(first.path.with_name("body.bin.l1k.json").read_text())
    assert sidecar["url"] == url and sidecar["sha256"] == BODY_SHA256 and sidecar["size"] == len(BODY)
    assert sidecar["etag"] and sidecar["last_modified"].endswith("GMT")
    assert first.fetched_at.endswith("Z") and first.fetched_at[:4].isdigit()

    second = downloader.fetch(url)
    assert second.from_cache and second.path == first.path and second.fetched_at == first.fetched_at
    assert server.requests == [Request("GET", "/data/body.bin", None, 200)]
    assert _leftovers(first.path) == ["body.bin", "body.bin.l1k.json"]


def test_refresh_downloads_again(server: FileServer, downloader: Downloader) -> None:
    url = f"{server.url}/data/body.bin"
    downloader.fetch(url)
    server.set_file("/data/body.bin", b"new content\n")
    fetched = downloader.fetch(url, refresh=True)
    assert fetched.path.read_bytes() == b"new content\n" and not fetched.from_cache
    assert fetched.sha256 == hashlib.sha256(b"new content\n").hexdigest()
    assert len(server.requests) == 2


def test_http_404_fails_at_once(server: FileServer, downloader: Downloader, sleeps: list[float]) -> None:
    url = f"{server.url}/data/missing.txt"
    with pytest.raises(SourceError, match="HTTP 404") as info:
        downloader.fetch(url)
    assert info.value.url == url
    assert server.requests == [Request("GET", "/data/missing.txt", None, 404)]
    assert sleeps == [] and _leftovers(downloader.cache_path(url)) == []


def test_http_500_twice_then_success_backs_off_exponentially(
    server: FileServer, downloader: Downloader, sleeps: list[float]
) -> None:
    server.fail("/data/body.bin", 500, times=2)
    fetched = downloader.fetch(f"{server.url}/data/body.bin")
    assert fetched.sha256 == BODY_SHA256
    assert [r.status for r in server.requests] == [500, 500, 200]
    assert sleeps == [0.01, 0.02]


@pytest.mark.parametrize(("retry_after", "expected_wait"), [("7", 7.0), ("100000", MAX_RETRY_AFTER_S), ("soon", 0.01)])
def test_http_429_honours_retry_after_capped(
    server: FileServer, downloader: Downloader, sleeps: list[float], retry_after: str, expected_wait: float
) -> None:
    server.fail("/data/body.bin", 429, times=1, headers={"Retry-After": retry_after})
    assert downloader.fetch(f"{server.url}/data/body.bin").sha256 == BODY_SHA256
    assert [r.status for r in server.requests] == [429, 200]
    assert sleeps == [expected_wait]


def test_retries_run_out(server: FileServer, downloader: Downloader, sleeps: list[float]) -> None:
    server.fail("/data/body.bin", 503, times=10)
    with pytest.raises(SourceError, match=r"HTTP 503 .*gave up after 4 attempts"):
        downloader.fetch(f"{server.url}/data/body.bin")
    assert len(server.requests) == 4 and sleeps == [0.01, 0.02, 0.04]


def test_dropped_connection_resumes_with_a_range_request(
    server: FileServer, downloader: Downloader, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    server.drop_after("/data/body.bin", 600_000)
    with caplog.at_level(logging.INFO, logger="l1k.sources"):
        fetched = downloader.fetch(f"{server.url}/data/body.bin", sha512=BODY_SHA512)
    messages = [r.getMessage() for r in caplog.records]
    assert any("(attempt 1)" in m for m in messages) and any("retry 1 of 3" in m for m in messages)
    assert any("(attempt 2), resuming at byte" in m for m in messages)
    assert fetched.path.read_bytes() == BODY
    first, second = server.requests
    assert (first.range, first.status) == (None, 200)
    assert second.status == 206 and second.range is not None
    resumed_at = int(second.range.removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= 600_000
    assert len(sleeps) == 1


def _partial(downloader: Downloader, url: str, data: bytes, etag: str | None) -> Path:
    """A ``.part`` left by an earlier attempt, with the version it was of (``etag``; None: no record of it)."""
    part = downloader.cache_path(url).with_name(downloader.cache_path(url).name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data)
    if etag is not None:
        record = {"url": url, "final_url": url, "etag": etag, "last_modified": "", "total": len(BODY)}
        part.with_name(part.name + ".l1k.json").write_text(json.dumps(record))
    return part


def _etag(server: FileServer, path: str) -> str:
    return requests.head(f"{server.url}{path}", timeout=10).headers["ETag"]


def test_partial_file_longer_than_the_file_restarts_after_416(server: FileServer, downloader: Downloader) -> None:
    url = f"{server.url}/data/body.bin"
    _partial(downloader, url, b"x" * (len(BODY) + 10), _etag(server, "/data/body.bin"))
    server.requests.clear()
    assert downloader.fetch(url).path.read_bytes() == BODY
    assert server.requests == [
        Request("GET", "/data/body.bin", f"bytes={len(BODY) + 10}-", 416),
        Request("GET", "/data/body.bin", None, 200),
    ]


def test_a_partial_file_of_unknown_version_is_not_resumed(server: FileServer, downloader: Downloader) -> None:
    """Without the ETag or date of the version it holds, a .part could be of any issue of the file: start over."""
    url = f"{server.url}/data/body.bin"
    part = _partial(downloader, url, b"an older version of the file", None)
    assert downloader.fetch(url).path.read_bytes() == BODY
    assert server.requests == [Request("GET", "/data/body.bin", None, 200)]
    assert _leftovers(part.with_name("body.bin")) == ["body.bin", "body.bin.l1k.json"]


def test_a_stale_partial_file_of_another_version_is_replaced_not_spliced(server: FileServer, downloader: Downloader) -> None:
    """The .part says which version it is (an old ETag): If-Range makes the server send the new file whole."""
    url = f"{server.url}/data/body.bin"
    _partial(downloader, url, b"an older version of the file", '"0ld-version"')
    assert downloader.fetch(url).path.read_bytes() == BODY  # no checksum given: only If-Range prevents the splice
    assert [(r.range, r.status) for r in server.requests] == [("bytes=28-", 200)]


def test_wrong_sha512_refetches_once_then_fails_leaving_nothing(server: FileServer, downloader: Downloader) -> None:
    url = f"{server.url}/data/body.bin"
    wrong = "ab" * 64
    with pytest.raises(SourceError, match=f"sha512 mismatch: expected {wrong}, got {BODY_SHA512}"):
        downloader.fetch(url, sha512=wrong)
    assert len(server.requests) == 2
    assert _leftovers(downloader.cache_path(url)) == []


def test_corrupting_server_is_caught_by_the_checksum(server: FileServer, downloader: Downloader) -> None:
    url = f"{server.url}/data/body.bin"
    server.corrupt("/data/body.bin")
    flipped_sha512 = hashlib.sha512(bytes(b ^ 0xFF for b in BODY)).hexdigest()
    with pytest.raises(SourceError, match=f"sha512 mismatch: expected {BODY_SHA512}, got {flipped_sha512}"):
        downloader.fetch(url, sha512=BODY_SHA512)
    assert _leftovers(downloader.cache_path(url)) == []


def test_one_corrupt_download_is_repaired_by_the_refetch(server: FileServer, downloader: Downloader) -> None:
    server.corrupt("/data/body.bin", times=1)
    fetched = downloader.fetch(f"{server.url}/data/body.bin", md5=hashlib.md5(BODY).hexdigest())
    assert fetched.path.read_bytes() == BODY and len(server.requests) == 2


def test_tampered_cache_file_is_fetched_again(server: FileServer, downloader: Downloader) -> None:
    url = f"{server.url}/data/body.bin"
    path = downloader.fetch(url).path
    path.write_bytes(b"Y" + BODY[1:])  # same size, different bytes
    again = downloader.fetch(url)
    assert not again.from_cache and again.path.read_bytes() == BODY and len(server.requests) == 2


def test_cache_without_sidecar_is_not_trusted(server: FileServer, downloader: Downloader) -> None:
    url = f"{server.url}/data/body.bin"
    path = downloader.fetch(url).path
    path.with_name("body.bin.l1k.json").unlink()
    assert not downloader.fetch(url).from_cache and len(server.requests) == 2


def test_cached_file_failing_a_new_checksum_is_removed(server: FileServer, downloader: Downloader) -> None:
    url = f"{server.url}/data/body.bin"
    downloader.fetch(url)
    with pytest.raises(SourceError, match="md5 mismatch"):
        downloader.fetch(url, md5="0" * 32)
    assert _leftovers(downloader.cache_path(url)) == [] and len(server.requests) == 3


def test_cache_path_stays_inside_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    loader = Downloader(cache)
    assert loader.cache_path("https://ftp.ncbi.nlm.nih.gov/geo/series/GSE92nnn/GSE92742/suppl/x.txt.gz") == (
        cache / "https" / "ftp.ncbi.nlm.nih.gov" / "geo/series/GSE92nnn/GSE92742/suppl/x.txt.gz"
    )
    escaped = loader.cache_path("http://Host:8080/a/../../../etc/%2E%2E/passwd")
    assert escaped == cache / "http" / "host_8080" / "passwd"
    queried = loader.cache_path("https://h/get.txt.gz?id=1")
    assert queried.parent == cache / "https" / "h" and queried.name.endswith("_get.txt.gz")
    assert queried != loader.cache_path("https://h/get.txt.gz?id=2")
    assert loader.cache_path("https://h/dir/") == cache / "https" / "h" / "dir" / "_index"


def test_unsupported_scheme_and_hostless_url(downloader: Downloader) -> None:
    with pytest.raises(SourceError, match="unsupported URL scheme 'ftp'"):
        downloader.fetch("ftp://ftp.ncbi.nlm.nih.gov/geo/x.txt")
    with pytest.raises(SourceError, match="no host"):
        downloader.fetch("http:///x.txt")


def test_unreachable_server_is_retried_then_reported(tmp_path: Path, sleeps: list[float]) -> None:
    with serve_directory(tmp_path) as srv:
        url = f"{srv.url}/x.txt"
    loader = Downloader(tmp_path / "cache", retries=1, backoff_s=0.01, timeout_s=2)
    with pytest.raises(SourceError, match=r"connection failed.*gave up after 2 attempts"):
        loader.fetch(url)
    assert sleeps == [0.01]


# ---- file:// URLs and real public files -------------------------------------------------------


def test_file_url_is_verified_in_place(shared_data: Path, downloader: Downloader) -> None:
    local = shared_data / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt"
    fetched = downloader.fetch(local.as_uri(), md5=GENE_INFO_MD5)
    assert fetched.path == local and not fetched.from_cache and fetched.size == 621887
    assert fetched.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    assert not downloader.cache_dir.exists()
    with pytest.raises(SourceError, match="md5 mismatch"):
        downloader.fetch(local.as_uri(), md5="0" * 32)
    with pytest.raises(SourceError, match="file not found"):
        downloader.fetch((shared_data / "l1000" / "no_such_file.txt").as_uri())


def test_real_geo_annotation_over_http_then_gunzip(shared_data: Path, downloader: Downloader, tmp_path: Path) -> None:
    with serve_directory(shared_data / "geo") as srv:
        fetched = downloader.fetch(f"{srv.url}/geoquery_GPL97.annot.gz", md5=GPL97_MD5)
    assert fetched.size == 2008419
    text = gunzip_to(fetched.path, tmp_path / "out" / "GPL97.annot").read_text()
    assert text.startswith("^Annotation\n") and len(text.encode()) == 8000588
    table = text.split("!platform_table_begin\n", 1)[1].split("!platform_table_end", 1)[0]
    assert len(table.splitlines()) == 1 + 22645  # header + the probes PROVENANCE.md counts


# ---- gunzip_to ---------------------------------------------------------------------------


def test_gunzip_to_truncated_or_foreign_data_leaves_no_file(tmp_path: Path) -> None:
    good = gzip.compress(BODY)
    for name, data in [("truncated.gz", good[: len(good) // 2]), ("tail_cut.gz", good[:-4]), ("plain.gz", b"not gzip at all\n")]:
        src = tmp_path / name
        src.write_bytes(data)
        with pytest.raises(FormatError, match="expected a complete gzip stream") as info:
            gunzip_to(src, tmp_path / "out" / "body.bin")
        assert info.value.path == str(src) and info.value.found
        assert list((tmp_path / "out").iterdir()) == []
    src = tmp_path / "good.gz"
    src.write_bytes(good)
    assert gunzip_to(src, tmp_path / "out" / "body.bin").read_bytes() == BODY


# ---- checksum lists ------------------------------------------------------------------------

SHA_A = hashlib.sha512(b"a").hexdigest()
SHA_B = hashlib.sha512(b"b").hexdigest()


def test_parse_geo_style_sha512_list_plain_and_gzipped(tmp_path: Path) -> None:
    text = (
        "# GSE92742 supplementary files\n"
        f"{SHA_A}  GSE92742_Broad_LINCS_gene_info.txt.gz\r\n"
        "\n"
        f"{SHA_B.upper()} *./suppl/GSE92742_SHA512SUMS.txt.gz\n"
    )
    expected = {"GSE92742_Broad_LINCS_gene_info.txt.gz": SHA_A, "GSE92742_SHA512SUMS.txt.gz": SHA_B}
    assert parse_checksum_list(text) == expected
    path = tmp_path / "GSE92742_SHA512SUMS.txt.gz"
    path.write_bytes(gzip.compress(text.encode()))
    assert parse_checksum_list(path) == expected


def test_parse_md5sum_list_of_real_files_and_verify_them(shared_data: Path, downloader: Downloader) -> None:
    text = f"{GPL97_MD5}  geo/geoquery_GPL97.annot.gz\n{GENE_INFO_MD5}  l1000/GSE92742_Broad_LINCS_gene_info.txt\n"
    sums = parse_checksum_list(text)
    assert sums == {"geoquery_GPL97.annot.gz": GPL97_MD5, "GSE92742_Broad_LINCS_gene_info.txt": GENE_INFO_MD5}
    for folder, name in [("geo", "geoquery_GPL97.annot.gz"), ("l1000", "GSE92742_Broad_LINCS_gene_info.txt")]:
        downloader.fetch((shared_data / folder / name).as_uri(), md5=sums[name])


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (f"{SHA_A}  a.txt\nnot a checksum line\n", 2, "'<hex digest>  <file name>'"),
        (f"{SHA_A[:-1]}  a.txt\n", 1, "'<hex digest>  <file name>'"),
        (f"{SHA_A}  dir/\n", 1, "'<hex digest>  <file name>'"),
        (f"{SHA_A}  a.txt\n{hashlib.md5(b'b').hexdigest()}  b.txt\n", 2, "digests of one length (128 hex digits)"),
        (f"{SHA_A}  x/a.txt\n{SHA_B}  y/a.txt\n", 2, "one digest per file name ('a.txt' is listed twice)"),
    ],
)
def test_malformed_checksum_lists_name_the_line(text: str, line: int, expected: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_checksum_list(text)
    assert info.value.line == line and info.value.expected == expected and info.value.found


def test_empty_or_undecodable_checksum_lists_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="at least one"):
        parse_checksum_list("# nothing listed\n\n")
    latin = tmp_path / "sums.txt"
    latin.write_bytes(f"{SHA_A}  caf\xe9.txt\n".encode("latin-1"))
    with pytest.raises(FormatError, match="UTF-8 text"):
        parse_checksum_list(latin)
    broken = tmp_path / "sums.txt.gz"
    broken.write_bytes(gzip.compress(f"{SHA_A}  a.txt\n".encode())[:-6])
    with pytest.raises(FormatError, match="complete gzip stream"):
        parse_checksum_list(broken)


_NAMES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/\n\r"), min_size=1, max_size=24).filter(
    lambda s: s == s.strip()
)


@st.composite
def _checksum_lists(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A valid list in one of the styles seen in the wild, and the mapping it must parse to."""
    length = draw(st.sampled_from([32, 64, 128]))
    names = draw(st.lists(_NAMES, min_size=1, max_size=6, unique=True))
    digests = [draw(st.binary(min_size=length // 2, max_size=length // 2)).hex() for _ in names]
    lines = []
    for name, digest in zip(names, digests, strict=True):
        folder = draw(st.sampled_from(["", "./", "suppl/", "/geo/series/GSE1nnn/GSE1000/suppl/"]))
        marker = draw(st.sampled_from(["  ", " *", "\t"]))
        shown = digest.upper() if draw(st.booleans()) else digest
        lines.extend(draw(st.lists(st.sampled_from(["", "# comment", "   "]), max_size=2)))
        lines.append(f"{shown}{marker}{folder}{name}")
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(lines) + ending, dict(zip(names, digests, strict=True))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_checksum_lists(), compressed=st.booleans())
def test_checksum_lists_round_trip(tmp_path: Path, case: tuple[str, dict[str, str]], compressed: bool) -> None:
    text, expected = case
    assert parse_checksum_list(text) == expected
    path = tmp_path / "SHA512SUMS.txt"
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compressed else data)
    assert parse_checksum_list(path) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    compressed=st.booleans(),
    cut=st.integers(0, 30),
)
def test_checksum_parser_fails_only_with_format_error(tmp_path: Path, data: bytes, compressed: bool, cut: int) -> None:
    path = tmp_path / "sums.txt"
    payload = gzip.compress(data) if compressed else data
    path.write_bytes(payload[: len(payload) - cut])
    for source in (path, data.decode("utf-8", "replace")):
        try:
            parsed = parse_checksum_list(source)
        except FormatError as exc:
            assert exc.expected
            continue
        assert parsed and all(len(v) in (32, 40, 56, 64, 96, 128) and v == v.lower() for v in parsed.values())


# ---- the pieces together: a GEO-like suppl folder with its SHA512SUMS list -----------------------


def test_fetch_directory_verifies_against_the_published_sha512_list(
    shared_data: Path, tmp_path: Path, downloader: Downloader
) -> None:
    gene_info = (shared_data / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt").read_bytes()
    packed = gzip.compress(gene_info)
    sums = f"{hashlib.sha512(packed).hexdigest()}  GSE92742_Broad_LINCS_gene_info.txt.gz\n"
    folder = "/geo/series/GSE92nnn/GSE92742/suppl"
    roles = {k: LINCS_GEO_ROLES[k] for k in ("gene_info", "checksums")}
    (tmp_path / "www").mkdir()
    with serve_directory(tmp_path / "www") as srv:
        srv.set_file(f"{folder}/GSE92742_Broad_LINCS_gene_info.txt.gz", packed)
        srv.set_file(f"{folder}/GSE92742_SHA512SUMS.txt.gz", gzip.compress(sums.encode()))
        srv.set_file(f"{folder}/GSE92742_Broad_LINCS_README.pdf", b"%PDF-1.4\n")
        url = geo_suppl_url(f"{srv.url}/geo", "GSE92742", "").rstrip("/")
        assert list_directory(url) == [
            "GSE92742_Broad_LINCS_README.pdf",
            "GSE92742_Broad_LINCS_gene_info.txt.gz",
            "GSE92742_SHA512SUMS.txt.gz",
        ]
        table = fetch_directory(downloader, url, roles, tmp_path / "releases" / "GSE92742")
        assert table.set_index("role").loc["gene_info", "checksum_verified"] == "sha512"
        assert Path(table.set_index("role").loc["gene_info", "path"]).read_bytes() == gene_info

        unpacked = Path(table.set_index("role").loc["gene_info", "path"])
        stamp = unpacked.stat()
        unpacked.write_bytes(b"X" + gene_info[1:])  # altered after the verified fetch, its timestamp kept
        os.utime(unpacked, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        again = fetch_directory(downloader, url, roles, tmp_path / "releases" / "GSE92742")
        assert Path(again.set_index("role").loc["gene_info", "path"]).read_bytes() == gene_info  # unpacked afresh

        srv.set_file(f"{folder}/GSE92742_Broad_LINCS_gene_info.txt.gz", gzip.compress(gene_info + b"extra\n"))
        with pytest.raises(SourceError, match="sha512 mismatch"):
            Downloader(tmp_path / "cache2", retries=0).fetch(
                f"{url}/GSE92742_Broad_LINCS_gene_info.txt.gz", sha512=sums.split()[0]
            )


# ---- the test server itself -------------------------------------------------------------------


def test_file_server_speaks_http_like_the_real_servers(server: FileServer) -> None:
    url = f"{server.url}/data/body.bin"
    head = requests.head(url, timeout=5)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(BODY)) and head.content == b""
    assert head.headers["Accept-Ranges"] == "bytes" and head.headers["ETag"] and head.headers["Last-Modified"]
    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert part.status_code == 206 and part.content == BODY[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(BODY)}"
    tail = requests.get(url, headers={"Range": "bytes=-5"}, timeout=5)
    assert tail.status_code == 206 and tail.content == BODY[-5:]
    beyond = requests.get(url, headers={"Range": f"bytes={len(BODY)}-"}, timeout=5)
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(BODY)}"
    assert requests.get(f"{server.url}/data/nope", timeout=5).status_code == 404
    index = requests.get(f"{server.url}/", timeout=5)
    assert '<a href="data/">data/</a>' in index.text and '<a href="../">' in index.text
    assert [(r.method, r.range, r.status) for r in server.requests] == [
        ("HEAD", None, 200),
        ("GET", "bytes=10-19", 206),
        ("GET", "bytes=-5", 206),
        ("GET", f"bytes={len(BODY)}-", 416),
        ("GET", None, 404),
        ("GET", None, 200),
    ]
