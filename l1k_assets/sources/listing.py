"""Discover files in a source directory and pick them by role.

GEO serves its FTP tree over HTTPS as plain directory indexes, and the file names of the
large matrices carry their dimensions (``..._n1319138x12328.gctx.gz``), so loaders find
files by listing the directory and matching a role pattern rather than by hard-coding names.
``file://`` directories (the embedded mirror) list through the same call.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

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
