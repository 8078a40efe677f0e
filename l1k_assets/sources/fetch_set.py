"""Fetch a set of files from one source directory, verified, into a table of what was fetched.

Raw assets are tables of files (role, URL, sha256, local path) rather than the files' bytes:
the bytes stay in the download cache (or, decompressed, under the release folder) and the
table is what lineage, checks and downstream assets read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from l1k_assets.errors import SourceError
from l1k_assets.sources.checksums import parse_checksum_list
from l1k_assets.sources.download import Downloader, FetchedFile, gunzip_to
from l1k_assets.sources.listing import list_directory, pick_files

FILE_COLUMNS = ["role", "name", "url", "sha256", "size", "checksum_verified", "fetched_at", "path", "part"]


def fetched_row(
    role: str, fetched: FetchedFile, path: Path | None = None, verified: str = "", part: str = ""
) -> dict[str, object]:
    """One row of a raw file table; ``part`` names the perturbagen types a per-type matrix holds (else empty)."""
    return {
        "role": role,
        "name": fetched.url.rsplit("/", 1)[-1],
        "url": fetched.url,
        "sha256": fetched.sha256,
        "size": fetched.size,
        "checksum_verified": verified,
        "fetched_at": fetched.fetched_at,
        "path": str(path or fetched.path),
        "part": part,
    }


def fetch_urls(downloader: Downloader, urls: dict[str, str]) -> pd.DataFrame:
    """Fetch named URLs (role -> URL) with no published checksums."""
    rows = [fetched_row(role, downloader.fetch(url)) for role, url in urls.items()]
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def fetch_directory(
    downloader: Downloader,
    directory_url: str,
    roles: dict[str, str],
    unpack_dir: Path,
    optional: frozenset[str] = frozenset(),
    names: list[str] | None = None,
) -> pd.DataFrame:
    """List a directory (unless its ``names`` are given), pick one file per role, verify each against the
    directory's checksum list (GEO's ``*_SHA512SUMS.txt.gz``) when there is one, and gunzip ``.gz`` files
    into ``unpack_dir``."""
    directory_url = directory_url.rstrip("/")
    names = list_directory(directory_url) if names is None else names
    chosen = pick_files(names, roles, directory_url, optional)
    published: dict[str, str] = {}
    rows = []
    if "checksums" in chosen:
        sums = downloader.fetch(f"{directory_url}/{chosen['checksums']}")
        published = parse_checksum_list(sums.path)
        rows.append(fetched_row("checksums", sums))
    for role, name in chosen.items():
        if role == "checksums":
            continue
        expected = published.get(name)
        if published and expected is None:
            raise SourceError(f"{directory_url}/{name}", f"not listed in the published checksum list {chosen['checksums']}")
        fetched = downloader.fetch(f"{directory_url}/{name}", sha512=expected)
        local = _unpacked(fetched.path, unpack_dir / name[:-3]) if name.endswith(".gz") else fetched.path
        rows.append(fetched_row(role, fetched, local, "sha512" if expected else ""))
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def _unpacked(src: Path, dest: Path) -> Path:
    """Decompress once: GCTX needs random access, which a gzip stream cannot give.

    An existing copy is reused only when it is newer than the compressed file it came from.
    """
    if dest.exists() and dest.stat().st_mtime >= src.stat().st_mtime:
        return dest
    return gunzip_to(src, dest)
