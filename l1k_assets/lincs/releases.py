"""Which LINCS releases the sources publish, each with a fingerprint that changes when it does.

On GEO a release is a series' supplementary folder; it counts as published once its files are
listed, and its fingerprint is the sha256 of its published checksum list (``*_SHA512SUMS``),
or of the file listing when there is none, so a re-issued file changes the fingerprint. The
embedded mirror publishes its releases in its manifest. The sensor diffs fingerprints against
its cursor: new releases become partitions, changed ones are re-run, nothing is requested twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from l1k_assets.errors import SourceError
from l1k_assets.sources.download import Downloader
from l1k_assets.sources.layout import geo_suppl_url
from l1k_assets.sources.listing import list_directory

CHECKSUM_LIST = re.compile(r"_SHA512SUMS\.txt(\.gz)?$")
DEFAULT_RELEASES = ("GSE92742", "GSE70138")


@dataclass(frozen=True)
class Release:
    """A published release and what identifies its current content."""

    release: str
    fingerprint: str
    source: str
    n_files: int


def geo_releases(geo_base: str, candidates: Iterable[str], downloader: Downloader) -> dict[str, Release]:
    """Releases among ``candidates`` whose GEO supplementary folder exists.

    A folder that is not there (HTTP 404) is simply not published yet; any other failure
    (server unreachable, 5xx after retries) raises ``SourceError`` so the caller keeps its state.
    """
    found: dict[str, Release] = {}
    for release in candidates:
        folder = geo_suppl_url(geo_base, release, "").rstrip("/")
        try:
            names = list_directory(folder)
        except SourceError as exc:
            if exc.status == 404:
                continue
            raise
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
