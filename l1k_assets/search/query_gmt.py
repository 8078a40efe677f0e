"""Many up/down queries in one GMT file, as CLUE's query app takes them: ``NAME_UP`` and ``NAME_DN`` lines.

Each query is two gene sets of one GMT (``name<TAB>description<TAB>genes…``, read by the one
GMT reader, :func:`~l1k_assets.genesets.gmt.read_gmt`) whose names differ only in the
suffix: ``_UP`` for the up set, ``_DN`` (or ``_DOWN``) for the down set, in any case. The
query is the name without the suffix. A set without its partner, a name with neither
suffix, a query named twice (``X_DN`` and ``X_DOWN``) or an empty set is an error naming the
file and the query, before anything is scored.
"""

from __future__ import annotations

import re
from pathlib import Path

from l1k_assets.errors import FormatError
from l1k_assets.genesets.gmt import read_gmt

MAX_QUERY_GMT_BYTES = 16 * 2**20  # thousands of 150 + 150 gene queries; a larger file is not a query file
MAX_QUERIES = 10_000
SUFFIX = re.compile(r"^(?P<query>.+)_(?P<side>UP|DN|DOWN)$", re.IGNORECASE)


def read_query_gmt(path: str | Path) -> dict[str, tuple[list[str], list[str]]]:
    """Query name → (up genes, down genes), in the file's order of first appearance."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_QUERY_GMT_BYTES:
        raise FormatError(path, f"a query GMT of at most {MAX_QUERY_GMT_BYTES} bytes", found=f"{size} bytes")
    sides: dict[str, dict[str, tuple[str, list[str]]]] = {}
    for name, genes in read_gmt(path, min_size=0).items():
        match = SUFFIX.match(name)
        if match is None:
            raise FormatError(path, "set names ending in _UP or _DN (CLUE's query GMT)", field=name)
        query, side = match["query"], "up" if match["side"].upper() == "UP" else "down"
        if side in sides.setdefault(query, {}):
            raise FormatError(path, f"one {side} set per query", field=query, found=f"{sides[query][side][0]} and {name}")
        if not genes:
            raise FormatError(path, "at least one gene in every set", field=name, found="none")
        sides[query][side] = (name, genes)
    if len(sides) > MAX_QUERIES:
        raise FormatError(path, f"at most {MAX_QUERIES} queries", found=str(len(sides)))
    queries = {}
    for query, pair in sides.items():
        missing = {"up", "down"} - set(pair)
        if missing:
            (side,) = missing
            given = next(iter(pair.values()))[0]
            raise FormatError(path, f"a {side} set for query {query!r} beside {given}", field=query, found="none")
        queries[query] = (pair["up"][1], pair["down"][1])
    return queries
