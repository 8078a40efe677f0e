"""Connectivity queries against a materialized rank index: the Python API behind ``l1k query``.

A query names its genes by symbol or by LINCS gene id (one per line or separated by commas or
spaces in a file, ``#`` starts a comment), or names a cancer type whose consensus reversal
query ``out_consensus_queries`` holds. It runs on the release's ``core_signature_ranks``
index with that release's ``core_lincs_signatures`` for annotations, filters and NCS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.search.query import Method, SignatureFilter, search
from l1k_assets.search.rank_index import RankIndex
from resources.parquet_io import ParquetIOManager


def read_gene_list(path: str | Path) -> list[str]:
    """Genes of a query file: tokens separated by newlines, commas, tabs or spaces; ``#`` comments."""
    path = Path(path)
    text = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
    genes = [g for g in re.split(r"[\s,]+", text) if g]
    if not genes:
        raise DataError(f"{path}: no gene names found (expected one symbol or LINCS gene id per line)")
    return list(dict.fromkeys(genes))


def to_gene_ids(genes: Sequence[str], lincs_genes: pd.DataFrame) -> list[str]:
    """LINCS gene ids for symbols or ids; every unknown name is listed in the error."""
    ids = set(lincs_genes.gene_id.astype(str))
    by_symbol = lincs_genes.drop_duplicates("gene_symbol").set_index("gene_symbol").gene_id.astype(str)
    unknown = [g for g in genes if g not in ids and g not in by_symbol.index]
    if unknown:
        raise DataError(f"genes {unknown[:10]} ({len(unknown)} in all) are neither LINCS gene ids nor symbols of this release")
    return [g if g in ids else by_symbol[g] for g in genes]


@dataclass
class Query:
    """What to search for and how: up/down genes (symbols or ids) or a cancer type's consensus query."""

    up: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    cancer_type: str | None = None
    method: Method = "wtcs"
    top: int = 50
    filters: SignatureFilter | None = None
    permutations: int = 0
    direction: str = "reverse"


@dataclass
class QueryResult:
    """The ranked signatures and what the query actually used."""

    table: pd.DataFrame
    release: str
    up: list[str]  # gene ids scored
    down: list[str]
    not_indexed: list[str]  # query genes the index does not hold (a landmark-only index drops the others)


class SignatureSearch:
    """Queries against the materialized tables of one l1k home (``home`` empty: the default home)."""

    def __init__(self, home: str = "") -> None:
        self.tables = ParquetIOManager(home=home)

    def releases(self) -> list[str]:
        """Releases whose rank index is built."""
        return self.tables.partitions("core_signature_ranks")

    def consensus(self, cancer_type: str) -> tuple[list[str], list[str]]:
        """Up and down symbols of a cancer type's consensus reversal query."""
        table = self.tables.read("out_consensus_queries")
        rows = table[table.cancer_type == cancer_type]
        if rows.empty:
            raise DataError(f"no consensus query for {cancer_type!r}; known: {sorted(table.cancer_type.unique())}")
        return tuple(rows[rows.direction == d].sort_values("rank").gene_symbol.tolist() for d in ("up", "down"))  # type: ignore[return-value]

    def run(self, query: Query, release: str | None = None, progress: Callable[[int, int], None] | None = None) -> QueryResult:
        """The top signatures for ``query`` on ``release`` (the last built one by default), best first."""
        built = self.releases()
        if not built:
            raise FileNotFoundError("no rank index is built: run `l1k materialize` (asset core_signature_ranks) first")
        release = release or built[-1]
        if release not in built:
            raise DataError(f"release {release!r} has no rank index; built: {built}")
        up, down = self.consensus(query.cancer_type) if query.cancer_type else (query.up, query.down)
        genes = self.tables.read("core_lincs_genes", release)
        sig_info = self.tables.read("core_lincs_signatures", release)
        path = self.tables.read("core_signature_ranks", release).path.iloc[0]
        with RankIndex(path) as index:
            known = set(index.gene_ids)
            up_all, down_all = to_gene_ids(up, genes), to_gene_ids(down, genes)
            up_ids, down_ids = [g for g in up_all if g in known], [g for g in down_all if g in known]
            table = search(
                index,
                up_ids,
                down_ids,
                query.method,
                sig_info=sig_info,
                filters=query.filters,
                top=query.top,
                direction=query.direction,  # type: ignore[arg-type]
                permutations=query.permutations,
                progress=progress,
            )
        missing = [g for g in up_all + down_all if g not in known]
        return QueryResult(table, release, up_ids, down_ids, missing)
