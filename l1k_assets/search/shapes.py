"""Query shapes beyond an up/down pair: a whole signature (gene, value), and one gene set without direction.

**A signature** (a differential-expression table: gene, value) is compared with every
signature of the index over the genes both have (the query's genes in the index; the index
holds every one of its genes in every signature):

- ``pearson``: the correlation of the values with the signature's z-scores;
- ``spearman``: the same on ranks within the shared genes (average ranks for ties);
- ``cosine``: the cosine of the two vectors, as L1000CDS² compares;
- ``xsum`` / ``xcos`` (Cheng et al. 2014) with the query's values instead of ±1: over the
  shared genes that are among the signature's ``extreme_n`` top or bottom genes, the sum of
  value × z, and that sum divided by the query's norm there and the signature's norm over its
  extreme genes.

**An unsigned set** (genes, no direction) scores its weighted one-sided enrichment score
(CMap's ES, the up side of WTCS) in every signature: positive when the set's genes go up,
negative when down; NCS normalises it per cell line × perturbagen type as it does WTCS.

Both read the index block by block of signatures (bounded memory) and return raw scores that
:func:`~l1k_assets.search.connectivity.scored_tables` turns into NCS and filtered tables.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError, FormatError
from l1k_assets.search.connectivity import BLOCK, Rows, _es, _spans
from l1k_assets.search.rank_index import RankIndex

ProfileMethod = Literal["spearman", "pearson", "cosine", "xsum", "xcos"]
PROFILE_METHODS: tuple[str, ...] = get_args(ProfileMethod)
PROFILE_BLOCK = 8_192  # signatures per block: shared genes × block float64 values stay near 64 MB
MAX_TABLE_BYTES = 64 * 2**20  # a genome-wide DE table is a few MB


def read_signature_table(path: str | Path, max_bytes: int = MAX_TABLE_BYTES) -> pd.Series:
    """A query signature: gene → value from a two-column TSV or CSV (a header line is allowed).

    Extra columns are refused rather than guessed; a non-numeric or non-finite value and a
    gene named twice are format errors naming the line.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FormatError(path, f"a signature table of at most {max_bytes} bytes", found="a larger file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(path, "UTF-8 text", line=data[: exc.start].count(b"\n") + 1, found="undecodable bytes") from None
    delimiter = "\t" if "\t" in text.split("\n", 1)[0] else ","
    genes: dict[str, float] = {}
    seen_at: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for fields in reader:
            _add_row(path, reader.line_num, fields, genes, seen_at)
    except csv.Error as exc:
        raise FormatError(path, "delimited text", line=reader.line_num, found=str(exc)) from None
    if not genes:
        raise FormatError(path, "gene, value rows", found="none")
    return pd.Series(genes, dtype=np.float64)


def _add_row(path: Path, number: int, fields: list[str], genes: dict[str, float], seen_at: dict[str, int]) -> None:
    """One row of a signature table into ``genes`` (a first non-numeric row is a header and skipped)."""
    if not fields or not "".join(fields).strip():
        return
    if len(fields) != 2:
        raise FormatError(path, "two columns: gene, value", line=number, found=f"{len(fields)} fields")
    gene, raw = fields[0].strip(), fields[1].strip()
    try:
        value = float(raw)
    except ValueError:
        if not genes and not seen_at:
            seen_at[""] = number  # the header: only the first row may be one
            return
        raise FormatError(path, "a numeric value", line=number, field=gene, found=repr(raw[:40])) from None
    if not np.isfinite(value):
        raise FormatError(path, "a finite value", line=number, field=gene, found=raw)
    if not gene:
        raise FormatError(path, "a gene name", line=number, found="an empty field")
    if gene in genes:
        raise FormatError(path, "each gene once", line=number, field=gene, found=f"again (first on line {seen_at[gene]})")
    genes[gene], seen_at[gene] = value, number


def _check_profile(method: str) -> str:
    if method not in PROFILE_METHODS:
        raise ValueError(f"a signature query's method must be one of {PROFILE_METHODS}, not {method!r}")
    return method


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks down each column (scipy's ``rankdata``), for Spearman within the shared genes."""
    from scipy.stats import rankdata

    return rankdata(values, axis=0)


def _correlation(query: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Pearson r of ``query`` (genes) with every column of ``block`` (genes × signatures); 0 for a constant column."""
    q = query - query.mean()
    z = block - block.mean(axis=0)
    denominator = np.linalg.norm(q) * np.linalg.norm(z, axis=0)
    return np.divide(q @ z, denominator, out=np.zeros(block.shape[1]), where=denominator > 0)


def profile_block(
    method: str, query: np.ndarray, z: np.ndarray, ranks: np.ndarray, n_genes: int, n_extreme: int, norms: np.ndarray
) -> np.ndarray:
    """One method's scores of ``query`` (shared genes) against a block: z-scores and index ranks (shared genes × block)."""
    if method == "pearson":
        return _correlation(query, z)
    if method == "spearman":
        return _correlation(_ranks(query[:, None])[:, 0], _ranks(z))
    if method == "cosine":
        denominator = np.linalg.norm(query) * np.linalg.norm(z, axis=0)
        return np.divide(query @ z, denominator, out=np.zeros(z.shape[1]), where=denominator > 0)
    extreme = (ranks <= n_extreme) | (ranks > n_genes - n_extreme)
    total = (query[:, None] * z * extreme).sum(axis=0)
    if method == "xsum":
        return total
    denominator = np.sqrt(((query**2)[:, None] * extreme).sum(axis=0)) * norms
    return np.divide(total, denominator, out=np.zeros_like(total), where=denominator > 0)


def score_profile(
    index: RankIndex,
    signature: pd.Series,
    method: str = "spearman",
    selected: np.ndarray | None = None,
    block_size: int = PROFILE_BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Scores (1 × signatures, NaN outside ``selected``) of a gene → value signature on the index's gene ids."""
    method = _check_profile(method)
    if signature.index.has_duplicates:
        raise DataError(
            f"the query signature names genes more than once: {signature.index[signature.index.duplicated()][:5].tolist()}"
        )
    rows = index.gene_positions([str(g) for g in signature.index])
    query = signature.to_numpy(np.float64)
    out = np.full(index.n_signatures, np.nan)
    spans = _spans(index.n_signatures, block_size, selected)
    for start, stop in spans:
        z = np.asarray(index.scores[rows, start:stop], dtype=np.float64)
        ranks = np.asarray(index.ranks[rows, start:stop]) if method in ("xsum", "xcos") else z
        norms = index.extreme_norm[start:stop]
        out[start:stop] = profile_block(method, query, z, ranks, index.n_genes, index.extreme_n, norms)
        if progress is not None:
            progress(stop, index.n_signatures)
    if selected is not None:
        out[~selected] = np.nan
    return out[None, :]


def score_set(
    index: RankIndex,
    genes: Sequence[str],
    selected: np.ndarray | None = None,
    block_size: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The weighted one-sided ES (1 × signatures, NaN outside ``selected``) of an unsigned gene set."""
    members = list(dict.fromkeys(str(g) for g in genes))
    if not members:
        raise DataError("an unsigned query needs at least one gene")
    rows = index.gene_positions(members, "gene set")
    out = np.full(index.n_signatures, np.nan)
    for start, stop in _spans(index.n_signatures, block_size, selected):
        index.prefetch(rows, start, stop)
        out[start:stop] = _es(Rows(index.ranks, index.scores, rows, start, stop - start), index.n_genes)
        if progress is not None:
            progress(stop, index.n_signatures)
    if selected is not None:
        out[~selected] = np.nan
    return out[None, :]
