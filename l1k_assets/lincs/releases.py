"""Which LINCS releases the sources publish, each with a fingerprint that changes when it does.

A release is either a GEO series (``GSE92742``, ``GSE70138``: a supplementary folder) or a CLUE
build (``LINCS2020``: a folder of CLUE's S3 bucket). On GEO a release counts as published once
its files are listed, and its fingerprint is the sha256 of its published checksum list
(``*_SHA512SUMS``), or of the file listing when there is none. A CLUE build's fingerprint is
the sha256 of its bucket listing (every key with its size, ETag and date) and of the MD5 table
l1k verifies it against. Either way a re-issued file changes the fingerprint. The embedded
mirror publishes its releases in its manifest. The sensor diffs fingerprints against its
cursor: new releases become partitions, changed ones are re-run, nothing is requested twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from l1k_assets.errors import DataError, SourceError
from l1k_assets.sources.download import Downloader
from l1k_assets.sources.layout import geo_suppl_url, validate_accession
from l1k_assets.sources.listing import list_directory, list_tree

CHECKSUM_LIST = re.compile(r"_SHA512SUMS\.txt(\.gz)?$")
CLUE_BUILDS = ("LINCS2020",)
DEFAULT_RELEASES = ("GSE92742", "GSE70138", "LINCS2020")
ReleaseKind = Literal["geo", "clue"]
Entry = TypeVar("Entry")
# The flag marking a release's reference signatures for τ: GEO's Touchstone compounds, or LINCS 2020's
# exemplar signatures (one per perturbagen and cell line, the set CLUE's query app uses).
REFERENCE_COLUMNS: dict[ReleaseKind, str] = {"geo": "is_touchstone", "clue": "is_exemplar_sig"}


def release_kind(release: object) -> ReleaseKind:
    """``geo`` for a GEO series, ``clue`` for a CLUE build; anything else (it becomes a URL and a folder) is refused."""
    with contextlib.suppress(ValueError):
        validate_accession(release, "GSE")
        return "geo"
    if release in CLUE_BUILDS:
        return "clue"
    raise DataError(
        f"{release!r} is not a LINCS release: a GEO series (GSE and digits) or a CLUE build ({', '.join(CLUE_BUILDS)})"
    )


@dataclass(frozen=True)
class Release:
    """A published release and what identifies its current content."""

    release: str
    fingerprint: str
    source: str
    n_files: int


@dataclass(frozen=True)
class Published:
    """What the watched sources publish, and the sources that could not be asked (each with its problem).

    One unreachable source (CLUE's bucket, say) must not hide the releases of another (GEO).
    """

    releases: dict[str, Release]
    unreachable: dict[str, str]


def _published(list_folder: Callable[[str], list[Entry]], url: str) -> list[Entry]:
    """A release folder's entries; a folder that is not there (404) lists none, any other failure raises."""
    try:
        return list_folder(url)
    except SourceError as exc:
        if exc.status == 404:
            return []
        raise


def geo_releases(geo_base: str, candidates: Iterable[str], downloader: Downloader) -> dict[str, Release]:
    """Releases among ``candidates`` whose GEO supplementary folder exists.

    A folder that is not there (HTTP 404) is simply not published yet; any other failure
    (server unreachable, 5xx after retries) raises ``SourceError`` so the caller keeps its state.
    """
    found: dict[str, Release] = {}
    for release in candidates:
        folder = geo_suppl_url(geo_base, release, "").rstrip("/")
        names = _published(list_directory, folder)
        if not names:
            continue
        sums = [n for n in names if CHECKSUM_LIST.search(n)]
        if sums:
            fetched = downloader.fetch(f"{folder}/{sums[0]}", refresh=True)
            fingerprint = fetched.sha256
        else:
            fingerprint = hashlib.sha256("\n".join(names).encode()).hexdigest()
        found[release] = Release(release, fingerprint, folder, len(names))
    return found


def clue_releases(builds: Mapping[str, tuple[str, Path]]) -> dict[str, Release]:
    """CLUE builds (name -> bucket folder URL and MD5 table) whose folder lists any file.

    A folder that is not there (404) is not published; other failures raise ``SourceError``.
    """
    found: dict[str, Release] = {}
    for build, (url, table) in builds.items():
        listing = _published(list_tree, url)
        if not listing:
            continue
        lines = [f"{f.key}\t{f.size}\t{f.etag}\t{f.last_modified}" for f in listing]
        digest = hashlib.sha256("\n".join(lines).encode())
        digest.update(Path(table).read_bytes())
        found[build] = Release(build, digest.hexdigest(), url, len(listing))
    return found


def embedded_releases(manifest: Mapping[str, Any]) -> dict[str, Release]:
    """Releases of the embedded mirror, fingerprinted by the digests of their files."""
    found = {}
    for release in manifest["releases"]:
        files = sorted((path, digest) for path, digest in manifest["files"].items() if f"/{release}/" in path)
        fingerprint = hashlib.sha256("\n".join(f"{p} {d}" for p, d in files).encode()).hexdigest()
        found[release] = Release(release, fingerprint, "embedded mirror", len(files))
    return found


def plan_updates(cursor: Mapping[str, str], found: Mapping[str, Release]) -> tuple[list[str], list[str]]:
    """Releases new to the cursor, and known releases whose fingerprint changed."""
    new = sorted(r for r in found if r not in cursor)
    changed = sorted(r for r in found if r in cursor and cursor[r] != found[r].fingerprint)
    return new, changed
