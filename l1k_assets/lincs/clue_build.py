"""LINCS 2020 as CLUE publishes it: a bucket folder of ``_beta`` tables and one GCTX per level and perturbagen type.

The Expanded CMap LINCS Resource 2020 (the build CLUE's query app, SigCom LINCS and
signatureSearch use) is not on GEO. CLUE's public bucket holds it under ``builds/LINCS2020/``:
``geneinfo_beta.txt``, ``siginfo_beta.txt``, ``compoundinfo_beta.txt``, ``cellinfo_beta.txt``,
``instinfo_beta.txt``, and ``level3/``, ``level4/``, ``level5/`` folders with one matrix per
perturbagen type, named with their shape (``level5_beta_trt_cp_n720216x12328.gctx``). A file's
*part* is the type token of its name: ``trt_cp``, ``trt_sh``, ``trt_oe``, ``trt_xpr``,
``trt_misc``, or ``ctl`` for every control type at once. A user may keep only some parts.

CLUE lists each file's MD5 on its download page rather than in a file, so the published
digests come from a table shipped with l1k (``checksums/LINCS2020.md5.csv``, which names its
source and date); ``verify`` decides whether a mismatch refuses the file or is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from l1k_assets.errors import DataError
from l1k_assets.sources.checksums import ChecksumTable
from l1k_assets.sources.listing import ListedFile

BUILD_TABLES = {
    "gene_info": "geneinfo_beta.txt",
    "sig_info": "siginfo_beta.txt",
    "pert_info": "compoundinfo_beta.txt",
    "cell_info": "cellinfo_beta.txt",
    "inst_info": "instinfo_beta.txt",
}
MATRIX_FILE = re.compile(
    r"level(?P<level>[345])/level(?P=level)_beta_(?P<part>[a-z][a-z0-9_]*?)_n(?P<columns>\d+)x(?P<rows>\d+)\.gctx"
)
ALL_PART = "all"  # a whole-level file some builds add beside the per-type ones
CHECKSUM_TABLES = Path(__file__).parent / "checksums"
Verify = Literal["strict", "warn"]


@dataclass(frozen=True)
class BuildFile:
    """One file of a build to fetch: its role, its path below the build folder, its part, and its listing."""

    role: str
    key: str
    part: str
    listed: ListedFile


def part_of(pert_type: str) -> str:
    """The file part a perturbagen type is shipped in: its own name, or ``ctl`` for every control type."""
    return "ctl" if pert_type.startswith("ctl") else pert_type


def shipped_checksums(build: str) -> Path:
    """The MD5 table l1k ships for a CLUE build (copied from CLUE's download page)."""
    return CHECKSUM_TABLES / f"{build}.md5.csv"


def plan_build(listing: Sequence[ListedFile], levels: Sequence[int], parts: Sequence[str], where: str) -> list[BuildFile]:
    """The tables and the matrices of ``levels`` to fetch, restricted to ``parts`` (empty: every part).

    Every table must be listed, and each level must have at least one matrix. A whole-level
    ``all`` file is skipped when per-type files exist (it holds the same columns again).
    An unknown part is an error listing the parts the build has.
    """
    by_key = {f.key: f for f in listing}
    absent = [name for name in BUILD_TABLES.values() if name not in by_key]
    if absent:
        raise DataError(f"{where}: the build lists no {', '.join(absent)} (found {sorted(by_key)[:20]})")
    plan = [BuildFile(role, name, "", by_key[name]) for role, name in BUILD_TABLES.items()]
    for level in levels:
        matrices = {}
        for f in listing:
            match = MATRIX_FILE.fullmatch(f.key)
            if match and int(match["level"]) == level:
                if match["part"] in matrices:
                    raise DataError(
                        f"{where}: two level-{level} files for part {match['part']!r}: {matrices[match['part']].key}, {f.key}"
                    )
                matrices[match["part"]] = f
        if len(matrices) > 1:
            matrices.pop(ALL_PART, None)
        if not matrices:
            raise DataError(f"{where}: no level-{level} matrix (level{level}/level{level}_beta_<type>_n<columns>x<rows>.gctx)")
        unknown = sorted(set(parts) - set(matrices))
        if unknown:
            raise DataError(f"{where}: level {level} has no part {unknown}; it has {sorted(matrices)}")
        chosen = [p for p in sorted(matrices) if not parts or p in parts]
        plan += [BuildFile(f"level{level}", matrices[p].key, p, matrices[p]) for p in chosen]
    return plan


@dataclass(frozen=True)
class Verification:
    """How one fetched file was checked against the published table: what to record, and a warning if any."""

    verified: str
    warning: str = ""


def expected_md5(table: ChecksumTable, key: str, verify: Verify) -> str | None:
    """The MD5 the downloader must enforce: the published one under ``strict``; none under ``warn`` (checked after)."""
    return table.digests.get(key) if verify == "strict" else None


def verification(table: ChecksumTable, key: str, verify: Verify, md5: Callable[[], str]) -> Verification:
    """What to record for a fetched file. ``md5`` computes the file's digest (only called when it is needed).

    Under ``strict`` the downloader already refused a mismatch; under ``warn`` a mismatch is
    recorded and warned about. A file the table does not list gets its sha256 only, with a warning.
    """
    published = table.digests.get(key)
    if published is None:
        return Verification("", f"{key}: not in the published checksum table {table.path.name}; sha256 recorded, not verified")
    if verify == "strict":
        return Verification("md5")
    actual = md5()
    if actual == published:
        return Verification("md5")
    problem = f"md5 mismatch: published {published}, got {actual}"
    return Verification(problem, f"{key}: {problem} (verify: warn keeps the file)")
