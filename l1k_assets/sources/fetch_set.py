"""Fetch a set of files from one source directory, verified, into a table of what was fetched.

Raw assets are tables of files (role, URL, sha256, local path) rather than the files' bytes:
the bytes stay in the download cache (or, decompressed, under the release folder) and the
table is what lineage, checks and downstream assets read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from l1k_assets.errors import SourceError
from l1k_assets.fileio import atomic_write_text, file_digest
from l1k_assets.sources.checksums import parse_checksum_list
from l1k_assets.sources.download import Downloader, FetchedFile, gunzip_to
from l1k_assets.sources.listing import list_directory, pick_files

FILE_COLUMNS = [
    "role",
    "name",
    "url",
    "sha256",
    "size",
    "checksum_verified",
    "fetched_at",
    "path",
    "part",
    "final_url",
    "completeness",
]
UNPACKED_SUFFIX = ".l1k.json"


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
        "final_url": fetched.final_url or fetched.url,
        "completeness": fetched.completeness,
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
        local = unpacked(fetched, unpack_dir / name[:-3]) if name.endswith(".gz") else fetched.path
        rows.append(fetched_row(role, fetched, local, "sha512" if expected else ""))
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def unpacked(fetched: FetchedFile, dest: Path) -> Path:
    """Decompress a fetched ``.gz`` once: GCTX needs random access, which a gzip stream cannot give.

    A sidecar records the sha256 of the compressed file it came from and of the result. An
    existing copy is reused only when it came from these very bytes and still hashes to what
    was written, so an unpacked file altered on disk (even with its timestamp kept) is unpacked
    again rather than read as verified.
    """
    sidecar = dest.with_name(dest.name + UNPACKED_SUFFIX)
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        record = None
    same_source = isinstance(record, dict) and record.get("source_sha256") == fetched.sha256 and dest.is_file()
    if same_source and dest.stat().st_size == record.get("size") and file_digest(dest) == record.get("sha256"):
        return dest
    sidecar.unlink(missing_ok=True)
    gunzip_to(fetched.path, dest)
    written = {"source_sha256": fetched.sha256, "sha256": file_digest(dest), "size": dest.stat().st_size}
    atomic_write_text(sidecar, json.dumps(written))
    return dest
