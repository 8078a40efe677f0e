"""One CLUE-style query run: gene space, scores with τ, perturbagen and mechanism summaries.

This is what ``l1k query``, the Python API (:class:`l1k_jobs.signature_search.SignatureSearch`) and the
``out_signature_query`` asset all call, so the three give the same table for the same query:
the query's genes are resolved in the release's gene space (:mod:`~l1k_assets.search.genespace`),
every considered signature is scored (WTCS → NCS → τ against the release's reference null),
the top signatures are listed, and perturbagens and mechanisms are summarised by CLUE's
maximum-quantile rule over *all* considered signatures, not only the listed ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError, FormatError
from l1k_assets.search.connectivity import (
    Direction,
    Method,
    Scored,
    SignatureFilter,
    SignatureTable,
    ranked_signatures,
    score_table,
    score_tables,
    scored_tables,
)
from l1k_assets.search.genespace import GeneSpace, QueryGenesError, ResolvedQuery, Space
from l1k_assets.search.rank_index import RankIndex
from l1k_assets.search.reference_null import ReferenceNull
from l1k_assets.search.summary import summarize_mechanisms, summarize_perturbagens

MOA_COLUMNS = ("moa", "MOA", "mechanism_of_action")  # where sig_info/pert_info tables keep a compound's mechanism
COMPOUND = "trt_cp"
MAX_GENE_FILE_BYTES = 4 * 2**20  # ~30 times the longest name list a query can use
MAX_GENES = 20_000  # more than every gene of a release
BATCH_MEMORY_BYTES = 2**30  # what one pass of a batch may hold in scores and tables
BYTES_PER_QUERY_SIGNATURE = 40  # the raw score, its table's columns (score, NCS, τ) and the considered mask


@dataclass(frozen=True)
class QueryOptions:
    """How to score and report one query (CLUE's defaults: WTCS, BING space, 10 genes per side at least)."""

    method: Method = "wtcs"
    top: int = 50
    direction: Direction = "reverse"
    filters: SignatureFilter | None = None
    permutations: int = 0
    space: Space = "bing"
    min_genes: int = 10
    seed: int = 0


@dataclass
class QueryResult:
    """The ranked signatures, the perturbagen and mechanism summaries, and what the query used."""

    table: pd.DataFrame  # top signatures, best first, with scores and sig_info annotations
    perturbagens: pd.DataFrame  # one row per perturbagen, best first
    mechanisms: pd.DataFrame  # one row per MoA, best first (empty without mechanism annotations)
    genes: pd.DataFrame  # the gene-space report: side, input, gene_id, gene_symbol, status, reason
    up: list[str]  # gene ids scored
    down: list[str]
    description: dict[str, object] = field(default_factory=dict)


def read_gene_list(path: str | Path, max_bytes: int = MAX_GENE_FILE_BYTES, max_genes: int = MAX_GENES) -> list[str]:
    """Genes of a query file: tokens separated by newlines, commas, tabs or spaces; ``#`` comments.

    A gene file is small (every LINCS gene is 12,328 names), so one larger than ``max_bytes``
    or with more than ``max_genes`` names is refused before it is read further: a wrong file
    (a matrix, a binary, ``/dev/zero``) fails at once with its reason, not after minutes.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DataError(f"{path}: a gene file of at most {max_bytes} bytes is expected; this one is larger")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FormatError(path, "UTF-8 text (one gene name per line)", line=line, found="undecodable bytes") from None
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    genes = [g for g in re.split(r"[\s,]+", text) if g]
    if not genes:
        raise DataError(f"{path}: no gene names found (expected one symbol or LINCS gene id per line)")
    if len(genes) > max_genes:
        raise DataError(f"{path}: {len(genes)} names; a query side takes at most {max_genes}")
    return list(dict.fromkeys(genes))


def with_mechanisms(sig_info: pd.DataFrame, moa: pd.DataFrame | None) -> pd.DataFrame:
    """sig_info with a ``moa`` column: its own (pert_info's ``moa``/``MOA``), else the Repurposing Hub's by pert_iname."""
    own = next((c for c in MOA_COLUMNS if c in sig_info.columns), None)
    if own is not None:
        return sig_info if own == "moa" else sig_info.assign(moa=sig_info[own])
    if moa is None or "pert_iname" not in sig_info.columns:
        return sig_info
    by_name = moa.dropna(subset=["moa"]).drop_duplicates("pert_iname").set_index("pert_iname").moa
    return sig_info.assign(moa=sig_info.pert_iname.map(by_name))


def consensus_genes(queries: pd.DataFrame, cancer_type: str) -> tuple[list[str], list[str]]:
    """Up and down symbols of one cancer type in ``out_consensus_queries``; an unknown type lists the known ones."""
    rows = queries[queries.cancer_type == cancer_type]
    if rows.empty:
        raise DataError(f"no consensus query for {cancer_type!r}; known: {sorted(queries.cancer_type.unique())}")
    up, down = (rows[rows.direction == d].sort_values("rank").gene_symbol.tolist() for d in ("up", "down"))
    return up, down


def compound_connectivity(
    index: RankIndex, sig_info: pd.DataFrame, up: Sequence[str], down: Sequence[str], null: ReferenceNull
) -> pd.DataFrame:
    """Per compound (``trt_cp`` signatures only): best and median WTCS, median NCS, τ by the maximum-quantile rule,
    and its support.

    What ``out_connectivity_scores`` reports for each cancer type's consensus query.
    """
    compounds = SignatureFilter(pert_types=[COMPOUND])
    considered = score_table(index, up, down, "wtcs", sig_info, compounds, null=null).considered()
    grouped = considered.groupby("pert_id", sort=True)
    per_compound = grouped.agg(
        pert_iname=("pert_iname", "first"),
        wtcs_best=("wtcs", "max"),
        wtcs_median=("wtcs", "median"),
        ncs_median=("ncs", "median"),
        n_signatures=("wtcs", "size"),
        n_cell_lines=("cell_id", "nunique"),
    )
    tau = summarize_perturbagens(considered, ("tau",)).set_index("pert_id").tau
    return per_compound.assign(tau=tau).reset_index()


def _best_first(table: pd.DataFrame, column: str, direction: Direction) -> pd.DataFrame:
    """Rows ordered as the query wants them: most negative first for reversers, most positive for mimics."""
    return table.sort_values(column, ascending=direction == "reverse", kind="stable", na_position="last").reset_index(drop=True)


def run_query(
    index: RankIndex,
    genes: pd.DataFrame,
    sig_info: pd.DataFrame,
    up: Sequence[str],
    down: Sequence[str],
    options: QueryOptions = QueryOptions(),
    null: ReferenceNull | None = None,
    moa: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> QueryResult:
    """Resolve, score, rank and summarise one up/down query against a release's rank index (a batch of one).

    ``genes`` is the release's gene table, ``sig_info`` its signature metadata, ``null`` its
    reference null (τ needs WTCS, which NCS comes from; ``None`` reports no τ), ``moa`` the
    Repurposing Hub drug table for mechanisms when sig_info has none.
    """
    return next(iter(run_queries(index, genes, sig_info, {"query": (up, down)}, options, null, moa, progress).values()))


def queries_per_pass(n_signatures: int, memory_bytes: int = BATCH_MEMORY_BYTES) -> int:
    """How many queries one pass over the index scores: their scores and tables (~40 bytes a signature) within memory."""
    return max(1, memory_bytes // (BYTES_PER_QUERY_SIGNATURE * max(n_signatures, 1)))


def run_queries(
    index: RankIndex,
    genes: pd.DataFrame,
    sig_info: pd.DataFrame,
    queries: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    options: QueryOptions = QueryOptions(),
    null: ReferenceNull | None = None,
    moa: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, QueryResult]:
    """Resolve, score, rank and summarise named up/down queries, scored together in passes over the index.

    Every query is resolved in the gene space first, so a bad one fails before any scoring;
    sig_info is aligned once and each pass scores as many queries as ``queries_per_pass``
    holds in memory, sharing every block read (:func:`~l1k_assets.search.connectivity.score_tables`).
    Each result is what :func:`run_query` gives for that query alone.
    """
    space = GeneSpace(genes, index.gene_ids, options.space)
    resolved = {}
    for name, (up, down) in queries.items():
        try:
            resolved[name] = space.resolve(up, down, options.min_genes)
        except QueryGenesError as exc:
            if len(queries) > 1:  # say which query of a batch (the type, report and sides stay)
                exc.args = (f"query {name!r}: {exc}",)
            raise
    signatures = SignatureTable.align(index, with_mechanisms(sig_info, moa))
    filters = options.filters or SignatureFilter()  # controls are never listed unless asked for
    names = list(resolved)
    step = queries_per_pass(index.n_signatures)
    results = {}
    for first in range(0, len(names), step):
        group = names[first : first + step]
        pairs = [(resolved[n].up, resolved[n].down) for n in group]
        scored = score_tables(index, pairs, options.method, signatures, filters, null, progress=progress)
        for name, one in zip(group, scored, strict=True):
            results[name] = _summarised(index, one, resolved[name], space, options, null)
    return results


def _summarised(
    index: RankIndex, scored: Scored, resolved: ResolvedQuery, space: GeneSpace, options: QueryOptions, null: ReferenceNull | None
) -> QueryResult:
    """One scored query's top signatures, perturbagen and mechanism summaries, and description."""
    table = ranked_signatures(index, scored, options.top, options.direction, options.permutations, options.seed)
    key = scored.key
    considered = scored.considered()
    values = [c for c in ("tau", "ncs", scored.method) if c in considered.columns]
    perturbagens = _best_first(summarize_perturbagens(considered, values), key, options.direction)
    has_moa = "moa" in perturbagens.columns and perturbagens.moa.notna().any()
    mechanisms = _best_first(summarize_mechanisms(perturbagens, key), key, options.direction) if has_moa else pd.DataFrame()
    description = {
        "method": scored.method,
        "direction": options.direction,
        "ranked_by": key,
        "n_up": len(resolved.up),
        "n_down": len(resolved.down),
        "signatures_considered": int(considered.shape[0]),
        "signatures_in_index": index.n_signatures,
        "gene_space": space.describe(),
        "tau": null is not None,
        "filters": None if options.filters is None else repr(options.filters),
        "n_with_tau": int(np.isfinite(considered.tau).sum()) if "tau" in considered.columns else 0,
    }
    return QueryResult(table, perturbagens, mechanisms, resolved.report, resolved.up, resolved.down, description)


def batch_table(results: Mapping[str, QueryResult]) -> pd.DataFrame:
    """Every query's top signatures in one table, a ``query`` column first (the saved form of a batch)."""
    if not results:
        raise DataError("a batch needs at least one query")
    return pd.concat([r.table.assign(query=name) for name, r in results.items()], ignore_index=True).pipe(
        lambda t: t[["query", *[c for c in t.columns if c != "query"]]]
    )


def _top_set(enrichment: pd.DataFrame | None) -> str:
    """The most enriched set at the top of a ranking: over-represented among the hits, or a positive NES."""
    if enrichment is None or enrichment.empty:
        return ""
    at_top = enrichment[(enrichment.test == "hypergeometric") | (enrichment.get("nes", 0) > 0)]
    return "" if at_top.empty else str(at_top.nsmallest(1, "fdr").set.iloc[0])


def batch_summary(results: Mapping[str, QueryResult], enrichments: Mapping[str, pd.DataFrame | None]) -> pd.DataFrame:
    """One row per query of a batch: its sizes, best perturbagen and score, and its most enriched drug set (if tested)."""
    rows = []
    for name, result in results.items():
        key = str(result.description["ranked_by"])
        perts = result.perturbagens
        enrichment = enrichments.get(name)
        rows.append(
            {
                "query": name,
                "n_up": len(result.up),
                "n_down": len(result.down),
                "top_perturbagen": str(perts.pert_iname.iloc[0]) if len(perts) and "pert_iname" in perts else "",
                key: float(perts[key].iloc[0]) if len(perts) else float("nan"),
                "top_drug_set": _top_set(enrichment),
            }
        )
    return pd.DataFrame(rows)


def run_signature_query(
    index: RankIndex,
    genes: pd.DataFrame,
    sig_info: pd.DataFrame,
    signature: pd.Series,
    method: str = "spearman",
    options: QueryOptions = QueryOptions(),
    moa: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> QueryResult:
    """A whole signature (gene → value, e.g. ``read_signature_table``) against every signature, by ``method``
    (``shapes.PROFILE_METHODS``), over the genes of the query's gene space both have."""
    from l1k_assets.search.shapes import score_profile

    space = GeneSpace(genes, index.gene_ids, options.space)
    resolved = space.resolve_set([str(g) for g in signature.index], options.min_genes, "signature")
    used = resolved.report[resolved.report.status == "valid"]
    values = pd.Series(signature.loc[used.input].to_numpy(np.float64), index=used.gene_id.to_numpy())
    scored = _shape_scored(
        index,
        sig_info,
        moa,
        options,
        method,
        len(values),
        lambda mask: score_profile(index, values, method, mask, progress=progress),
    )
    result = _summarised(index, scored, resolved, space, options, None)
    result.description.update(query="signature", n_shared_genes=len(values))
    return result


def run_set_query(
    index: RankIndex,
    genes: pd.DataFrame,
    sig_info: pd.DataFrame,
    gene_list: Sequence[str],
    options: QueryOptions = QueryOptions(),
    moa: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> QueryResult:
    """One gene set without direction: its weighted one-sided ES in every signature, NCS per cell line × type."""
    from l1k_assets.search.shapes import score_set

    space = GeneSpace(genes, index.gene_ids, options.space)
    resolved = space.resolve_set(gene_list, options.min_genes, "unsigned")
    scored = _shape_scored(
        index, sig_info, moa, options, "es", len(resolved.up), lambda mask: score_set(index, resolved.up, mask, progress=progress)
    )
    result = _summarised(index, scored, resolved, space, options, None)
    result.description.update(query="unsigned set")
    return result


def _shape_scored(
    index: RankIndex,
    sig_info: pd.DataFrame,
    moa: pd.DataFrame | None,
    options: QueryOptions,
    method: str,
    n_genes: int,
    score: Callable[[np.ndarray | None], np.ndarray],
) -> Scored:
    if options.permutations:
        raise DataError("permutation p-values are for up/down queries; a signature or unsigned query reports scores only")
    signatures = SignatureTable.align(index, with_mechanisms(sig_info, moa))
    filters = options.filters or SignatureFilter()
    return scored_tables(index, score, method, [(n_genes,)], signatures, filters)[0]
