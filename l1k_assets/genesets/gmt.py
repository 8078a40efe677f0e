"""GMT gene-set files: one set per line, ``name<TAB>description<TAB>gene<TAB>gene...``.

Enrichment must run offline (gseapy reaches the network when given a library name), so l1k
reads local GMT files into plain dicts and hands those to gseapy.
"""

from __future__ import annotations

from pathlib import Path

from l1k_assets.errors import FormatError
from l1k_assets.textio import numbered_lines


def read_gmt(path: str | Path, min_size: int = 1) -> dict[str, list[str]]:
    """Gene sets of a GMT file; duplicate set names or lines without genes are format errors."""
    path = Path(path)
    sets: dict[str, list[str]] = {}
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3 or not fields[0]:
            raise FormatError(path, "'name<TAB>description<TAB>genes...'", line=number, found=line[:80])
        name = fields[0]
        if name in sets:
            raise FormatError(path, "unique gene-set names", line=number, field=name)
        genes = list(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
        if len(genes) >= min_size:
            sets[name] = genes
    if not sets:
        raise FormatError(path, "at least one gene set", found="none")
    return sets
