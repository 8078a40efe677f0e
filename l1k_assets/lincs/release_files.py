"""Fetch a LINCS release's files, GEO series or CLUE build alike, into one verified file table.

Two raw assets read a release: the metadata tables with level 5 (what scoring and search
need), and level 3 (what CSG2A pretraining and a level-5 derivation need). They are separate
because level 3 is the bulk of a release (GSE92742: ~50 GB compressed; LINCS 2020: over
100 GB), so indexing a release never downloads it. A GEO release without a level-5 file
brings its level 3 with the tables, because level 5 is then derived from it.

Rows name each file's role (``gene_info``, ``sig_info``, ``pert_info``, ``cell_info``,
``inst_info``, ``level5``, ``level3``, ``checksums``), its URL, sha256 and how it was
verified, and for per-type matrices their ``part``; one role may hold several files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.fileio import file_digest
from l1k_assets.lincs.clue_build import Verify, expected_md5, plan_build, verification
from l1k_assets.lincs.releases import ReleaseKind
from l1k_assets.sources.checksums import read_checksum_table
from l1k_assets.sources.download import Downloader, FetchedFile
from l1k_assets.sources.fetch_set import FILE_COLUMNS, fetch_directory, fetched_row
from l1k_assets.sources.layout import clue_build_url
from l1k_assets.sources.listing import LINCS_GEO_ROLES, list_directory, list_tree, pick_files

Level = Literal[3, 5]
TABLE_ROLES = ("gene_info", "cell_info", "inst_info", "pert_info", "sig_info")


@dataclass(frozen=True)
class ReleaseLocation:
    """Where a release lives and how its files are verified.

    ``checksum_table`` is a CLUE build's MD5 table (CLUE publishes no checksum file); GEO
    releases carry their own SHA512SUMS list in the folder.
    """

    release: str
    kind: ReleaseKind
    url: str
    unpack_dir: Path
    checksum_table: Path | None = None
    verify: Verify = "strict"


def fetch_release(
    downloader: Downloader,
    location: ReleaseLocation,
    level: Level,
    parts: Sequence[str] = (),
    warn: Callable[[str], None] = lambda _message: None,
) -> pd.DataFrame:
    """The release's metadata tables and level-5 matrices (``level=5``), or its level-3 matrices (``level=3``).

    ``parts`` keeps only those perturbagen-type files of a CLUE build (empty: all of them).
    Anything a user should know but that does not stop the fetch (a file missing from the
    published checksums, a mismatch kept under ``verify: warn``) goes to ``warn``.
    """
    if location.kind == "clue":
        return _fetch_build(downloader, location, level, parts, warn)
    if parts:
        warn(f"{location.release} ships one matrix per level for every perturbagen type: parts {list(parts)} are ignored")
    return _fetch_geo(downloader, location, level)


def _fetch_geo(downloader: Downloader, location: ReleaseLocation, level: Level) -> pd.DataFrame:
    names = list_directory(location.url)
    if level == 3:
        roles = ["level3", "checksums"]
    else:
        shipped = pick_files(names, {"level5": LINCS_GEO_ROLES["level5"]}, location.url, frozenset({"level5"}))
        roles = [*TABLE_ROLES, "level5" if shipped else "level3", "checksums"]
    wanted = {role: LINCS_GEO_ROLES[role] for role in roles}
    return fetch_directory(downloader, location.url, wanted, location.unpack_dir, frozenset({"checksums"}), names)


def _fetch_build(
    downloader: Downloader, location: ReleaseLocation, level: Level, parts: Sequence[str], warn: Callable[[str], None]
) -> pd.DataFrame:
    if location.checksum_table is None:
        raise DataError(f"{location.release}: a CLUE build needs its MD5 table to be verified")
    table = read_checksum_table(location.checksum_table)
    plan = plan_build(list_tree(location.url), [level], parts, location.url)
    if level == 3:
        plan = [f for f in plan if f.role == "level3"]
    rows = [fetched_row("checksums", _local(location.checksum_table), verified="")]
    for item in plan:
        fetched = downloader.fetch(clue_build_url(location.url, item.key), md5=expected_md5(table, item.key, location.verify))
        check = verification(table, item.key, location.verify, lambda path=fetched.path: file_digest(path, "md5"))
        if check.warning:
            warn(check.warning)
        rows.append(fetched_row(item.role, fetched, verified=check.verified, part=item.part))
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def _local(path: Path) -> FetchedFile:
    """A file l1k ships (the MD5 table), recorded like a fetched one so lineage names its exact bytes."""
    path = Path(path).resolve()
    return FetchedFile(path.as_uri(), path, file_digest(path), path.stat().st_size, False, "")


def matrix_paths(files: pd.DataFrame, role: str) -> list[Path]:
    """Local paths of every file playing ``role`` (one GEO matrix, or a CLUE build's per-type files)."""
    paths = [Path(p) for p in files.loc[files.role == role, "path"]]
    if not paths:
        raise DataError(f"raw file table has no {role!r} file; it has roles {sorted(set(files.role))}")
    return paths
