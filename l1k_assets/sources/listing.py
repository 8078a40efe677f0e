"""Discover files in a source directory and pick them by role.

GEO serves its FTP tree over HTTPS as plain directory indexes, and the file names of the
large matrices carry their dimensions (``..._n1319138x12328.gctx.gz``), so loaders find
files by listing the directory and matching a role pattern rather than by hard-coding names.
CLUE serves LINCS 2020 from an S3 bucket, which lists through S3's own API (a tree of keys,
with sizes and ETags). ``file://`` directories (the embedded mirror) list through the same calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree

import requests

from l1k_assets.errors import DataError, SourceError

LINCS_GEO_ROLES: dict[str, str] = {
    "gene_info": r"_gene_info(_[\d-]+)?\.txt(\.gz)?$",
    "cell_info": r"_cell_info(_[\d-]+)?\.txt(\.gz)?$",
    "inst_info": r"_inst_info(_[\d-]+)?\.txt(\.gz)?$",
    "pert_info": r"_pert_info(_[\d-]+)?\.txt(\.gz)?$",
    "sig_info": r"_sig_info(_[\d-]+)?\.txt(\.gz)?$",
    "level3": r"_Level3_[^/]*\.gctx(\.gz)?$",
    "level5": r"_Level5_[^/]*\.gctx(\.gz)?$",
    "checksums": r"_SHA512SUMS\.txt(\.gz)?$",
}
OPTIONAL_LINCS_ROLES = frozenset({"level5", "checksums"})

GTEX_PAIR_ROLES: dict[str, str] = {
    "l1000": r"_L1000_Level3_[^/]*\.gctx(\.gz)?$",
    "rnaseq": r"_RNAseq_[^/]*\.gctx(\.gz)?$",
    "inst_info": r"_inst_info[^/]*\.txt(\.gz)?$",
}


@dataclass(frozen=True)
class ListedFile:
    """One file of a listed tree: its path below the listed folder and what the server says identifies its bytes."""

    key: str
    size: int
    etag: str = ""
    last_modified: str = ""


S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MAX_LISTING_PAGES = 10_000  # 10^7 objects at S3's 1,000 per page: a server that never stops paging is an error


def list_tree(url: str, timeout_s: float = 60.0) -> list[ListedFile]:
    """Every file below a folder URL, with its path relative to the folder, sorted by path.

    ``file://`` folders are walked; ``http(s)`` folders are taken to be S3 prefixes (CLUE's
    public bucket serves LINCS 2020 from ``s3.amazonaws.com/macchiato.clue.io/builds/LINCS2020/``)
    and listed with S3's ListObjectsV2 call, page by page.
    """
    parsed = urlparse(url)
    if parsed.scheme == "file":
        root = Path(unquote(parsed.path))
        if not root.is_dir():
            raise SourceError(url, "directory not found", status=404)
        return sorted(
            (ListedFile(p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*") if _visible(p, root)),
            key=lambda f: f.key,
        )
    if parsed.scheme not in ("http", "https"):
        raise SourceError(url, f"cannot list a {parsed.scheme!r} URL (expected file, http or https)")
    endpoint, prefix = _s3_location(url)
    files: list[ListedFile] = []
    token = ""
    for _ in range(MAX_LISTING_PAGES):
        params = {"list-type": "2", "prefix": prefix} | ({"continuation-token": token} if token else {})
        page, token = _s3_page(url, endpoint, params, prefix, timeout_s)
        files.extend(page)
        if not token:
            return sorted(files, key=lambda f: f.key)
    raise SourceError(url, f"the bucket listing did not end after {MAX_LISTING_PAGES} pages")


def _visible(path: Path, root: Path) -> bool:
    """A file not hidden at any level below ``root`` (temporary and lock files start with a dot)."""
    return path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)


def _s3_location(url: str) -> tuple[str, str]:
    """The bucket endpoint to list and the key prefix of a folder URL, path-style or virtual-hosted.

    ``https://s3.amazonaws.com/<bucket>/<prefix>/`` (and any host that is not ``*.s3.*``, such as
    a mirror or a local test server) lists at ``<host>/<bucket>``; ``https://<bucket>.s3.amazonaws.com/<prefix>/``
    at the host itself.
    """
    parsed = urlparse(url)
    path = unquote(parsed.path).strip("/")
    host = parsed.hostname or ""
    origin = f"{parsed.scheme}://{parsed.netloc}"
    if ".s3." in host or host.endswith(".s3.amazonaws.com"):
        return origin + "/", path + "/" if path else ""
    bucket, _, prefix = path.partition("/")
    if not bucket:
        raise SourceError(url, "an S3 folder URL names a bucket: https://<host>/<bucket>/<prefix>/")
    return f"{origin}/{bucket}", prefix + "/" if prefix else ""


def _s3_page(url: str, endpoint: str, params: dict[str, str], prefix: str, timeout_s: float) -> tuple[list[ListedFile], str]:
    """One ListObjectsV2 page: the files in it (keys made relative to ``prefix``) and the continuation token."""
    try:
        response = requests.get(endpoint, params=params, timeout=timeout_s)
    except requests.RequestException as exc:
        raise SourceError(url, f"listing failed: {exc}") from exc
    if response.status_code != 200:
        raise SourceError(url, f"listing failed: HTTP {response.status_code}", status=response.status_code)
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError as exc:
        raise SourceError(url, f"listing is not an S3 ListBucketResult XML document: {exc}") from exc
    if root.tag != f"{S3_NAMESPACE}ListBucketResult":
        raise SourceError(url, f"listing is not an S3 ListBucketResult (root element {root.tag!r})")
    files = []
    for item in root.iter(f"{S3_NAMESPACE}Contents"):
        key = item.findtext(f"{S3_NAMESPACE}Key", "")
        size = item.findtext(f"{S3_NAMESPACE}Size", "")
        if not key.startswith(prefix) or not size.isdigit():
            raise SourceError(url, f"listing entry {key!r} is outside the prefix {prefix!r} or has no size")
        if key.endswith("/"):
            continue  # a zero-byte "folder" marker
        etag = item.findtext(f"{S3_NAMESPACE}ETag", "").strip('"')
        files.append(ListedFile(key[len(prefix) :], int(size), etag, item.findtext(f"{S3_NAMESPACE}LastModified", "")))
    truncated = root.findtext(f"{S3_NAMESPACE}IsTruncated", "false") == "true"
    token = root.findtext(f"{S3_NAMESPACE}NextContinuationToken", "") if truncated else ""
    if truncated and not token:
        raise SourceError(url, "the listing is truncated but gives no continuation token")
    return files, token


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def list_directory(url: str, timeout_s: float = 60.0) -> list[str]:
    """File names in a directory URL (``file://`` or an HTTP index page), sorted."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if not path.is_dir():
            raise SourceError(url, "directory not found", status=404)
        return sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    try:
        response = requests.get(url.rstrip("/") + "/", timeout=timeout_s)
    except requests.RequestException as exc:
        raise SourceError(url, f"listing failed: {exc}") from exc
    if response.status_code != 200:
        raise SourceError(url, f"listing failed: HTTP {response.status_code}", status=response.status_code)
    parser = _Links()
    parser.feed(response.text)
    names = {unquote(h).rsplit("/", 1)[-1] for h in parser.hrefs if not h.startswith(("?", "#", "..")) and not h.endswith("/")}
    return sorted(n for n in names if n and not n.startswith("."))


def pick_files(names: list[str], roles: dict[str, str], where: str, optional: frozenset[str] = frozenset()) -> dict[str, str]:
    """Map each role to exactly one file name; a missing required role or an ambiguous match is an error."""
    chosen: dict[str, str] = {}
    for role, pattern in roles.items():
        hits = [n for n in names if re.search(pattern, n)]
        if len(hits) > 1:
            raise DataError(f"{where}: several files match role {role!r} ({pattern}): {hits}")
        if hits:
            chosen[role] = hits[0]
        elif role not in optional:
            raise DataError(f"{where}: no file for role {role!r} (pattern {pattern}); found {names[:20]}")
    return chosen
