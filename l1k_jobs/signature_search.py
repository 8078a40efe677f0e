"""Connectivity queries against a materialized rank index: the Python API behind ``l1k query``.

A query names its genes by symbol, gene id or Ensembl id (one per line or separated by commas or
spaces in a file, ``#`` starts a comment), or names a cancer type whose consensus reversal
query ``out_consensus_queries`` holds. It runs on the release's ``core_signature_ranks``
index with that release's ``core_lincs_signatures`` for annotations, filters and NCS, its
``core_reference_null`` for τ and the Repurposing Hub table of ``raw_compounds`` for
mechanisms, through :func:`l1k_assets.search.session.run_queries` (what the query asset runs);
``run_batch`` scores many named queries (a CLUE query GMT) in shared passes over the index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from l1k_assets.asset_utils import file_path
from l1k_assets.errors import DataError
from l1k_assets.lincs.metadata import read_moa_table
from l1k_assets.search.rank_index import RankIndex
from l1k_assets.search.reference_null import ReferenceNull, ReferenceSetError
from l1k_assets.search.session import (
    QueryOptions,
    QueryResult,
    consensus_genes,
    run_queries,
    run_set_query,
    run_signature_query,
)
from resources.parquet_io import ParquetIOManager

DEFAULT_OPTIONS = QueryOptions()


@dataclass
class Query:
    """What to search for and how: up/down genes (symbols, gene ids, Ensembl ids) or a cancer type's consensus query.

    ``tau`` asks for τ against the release's reference null (``core_reference_null``), which
    WTCS needs; RGES, XSum and XCos queries get none.
    """

    up: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    cancer_type: str | None = None
    options: QueryOptions = field(default_factory=QueryOptions)
    tau: bool = True


class SignatureSearch:
    """Queries against the materialized tables of one l1k home (``home`` empty: the default home)."""

    def __init__(self, home: str = "") -> None:
        self.tables = ParquetIOManager(home=home)

    def releases(self) -> list[str]:
        """Releases whose rank index is built."""
        return self.tables.partitions("core_signature_ranks")

    def consensus(self, cancer_type: str) -> tuple[list[str], list[str]]:
        """Up and down symbols of a cancer type's consensus reversal query."""
        return consensus_genes(self.tables.read("out_consensus_queries"), cancer_type)

    def reference_null(self, release: str) -> ReferenceNull:
        """The release's τ null; a release that has none is named with the asset that builds it."""
        if release not in self.tables.partitions("core_reference_null"):
            raise ReferenceSetError(
                f"release {release!r} has no reference null for τ: materialize core_reference_null[{release}] "
                "(it needs reference signatures: is_touchstone, or is_exemplar_sig on LINCS 2020) or query without τ (--no-tau)"
            )
        return ReferenceNull.from_table(self.tables.read("core_reference_null", release))

    def mechanisms(self) -> pd.DataFrame | None:
        """The Repurposing Hub drug table (pert_iname → moa) when raw_compounds is materialized."""
        try:
            files = self.tables.read("raw_compounds")
        except FileNotFoundError:
            return None
        return read_moa_table(file_path(files, "drugs"))

    def run(self, query: Query, release: str | None = None, progress: Callable[[int, int], None] | None = None) -> QueryResult:
        """The top signatures and summaries for ``query`` on ``release`` (the last built one by default)."""
        up, down = self.consensus(query.cancer_type) if query.cancer_type else (query.up, query.down)
        (result,) = self.run_batch({"query": (up, down)}, query.options, query.tau, release, progress).values()
        result.description.update(cancer_type=query.cancer_type)
        return result

    def run_batch(
        self,
        queries: Mapping[str, tuple[Sequence[str], Sequence[str]]],
        options: QueryOptions = DEFAULT_OPTIONS,
        tau: bool = True,
        release: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, QueryResult]:
        """Named up/down queries (e.g. ``read_query_gmt``'s) scored together, in shared passes over the index."""
        release, genes, sig_info, path = self._release(release)
        null = self.reference_null(release) if tau and options.method == "wtcs" else None
        with RankIndex(path) as index:
            results = run_queries(index, genes, sig_info, queries, options, null, self.mechanisms(), progress)
        for result in results.values():
            result.description.update(release=release)
        return results

    def run_signature(
        self,
        signature: pd.Series,
        method: str = "spearman",
        options: QueryOptions = DEFAULT_OPTIONS,
        release: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> QueryResult:
        """A whole signature (gene → value) against every signature by correlation, cosine, XSum or XCos."""
        moa = self.mechanisms()
        return self._on_release(
            release,
            lambda index, genes, sig_info: run_signature_query(index, genes, sig_info, signature, method, options, moa, progress),
        )

    def run_set(
        self,
        gene_list: Sequence[str],
        options: QueryOptions = DEFAULT_OPTIONS,
        release: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> QueryResult:
        """One gene set without direction: its one-sided ES in every signature (positive: the genes go up)."""
        moa = self.mechanisms()

        def run(index: RankIndex, genes: pd.DataFrame, sig_info: pd.DataFrame) -> QueryResult:
            return run_set_query(index, genes, sig_info, gene_list, options, moa, progress)

        return self._on_release(release, run)

    def _on_release(
        self, release: str | None, run: Callable[[RankIndex, pd.DataFrame, pd.DataFrame], QueryResult]
    ) -> QueryResult:
        """``run(index, genes, sig_info)`` on a built release's open rank index; the result says which release."""
        release, genes, sig_info, path = self._release(release)
        with RankIndex(path) as index:
            result = run(index, genes, sig_info)
        result.description.update(release=release)
        return result

    def _release(self, release: str | None) -> tuple[str, pd.DataFrame, pd.DataFrame, str]:
        """A built release (the last one by default): its name, gene table, signature table and rank index path."""
        built = self.releases()
        if not built:
            raise FileNotFoundError("no rank index is built: run `l1k materialize` (asset core_signature_ranks) first")
        release = release or built[-1]
        if release not in built:
            raise DataError(f"release {release!r} has no rank index; built: {built}")
        genes = self.tables.read("core_lincs_genes", release)
        sig_info = self.tables.read("core_lincs_signatures", release)
        return release, genes, sig_info, str(self.tables.read("core_signature_ranks", release).path.iloc[0])
