"""What CSG2A's attention learned (seed 003 §4.3–4.4): per-drug maps, their pathways, MoA structure, perturbed profiles.

For each drug the fine-tuned network's attention is averaged over the cell lines GDSC gave it
(``CSG2ARegressor.mean_attention``, the paper's per-drug map). Its strongest gene pairs go
through the same over-representation test as the rest of l1k (gseapy, BH FDR) against a
gene-set library. Maps of drugs sharing a mechanism (GDSC's pathway annotation) should
correlate more than maps of drugs that do not (the paper: 0.338 vs 0.169), for CSG2A with the
STRING prior and for CSG2A retrained without it (the paper: 0.102 → 0.064), whole and in the
part specific to each drug (the map minus the drugs' mean map). Finally the network's predicted
perturbed profiles of each drug's most sensitive and most resistant lines are compared: how far
the drug moves them from their basal profile (the paper's zero-shot distance) and how many
genes differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.genesets.enrichment import benjamini_hochberg, enrich


@dataclass
class AttentionReport:
    """Per drug its strongest pairs and enriched terms, the MoA correlations and the sensitive-vs-resistant comparison."""

    top_pairs: pd.DataFrame  # drug, rank, gene_a, gene_b, attention
    enrichment: pd.DataFrame  # drug, library, term, overlap, p_value, fdr …
    moa: pd.DataFrame  # per map (whole or drug-specific): same- and different-MoA mean correlation, pairs, one-sided p
    perturbation: pd.DataFrame  # per drug: lines per group, mean distance each, t, p, genes differing at FDR < 0.05
    correlations: pd.DataFrame  # drug pairs: same_moa, r per map

    def moa_figures(self) -> dict[str, float]:
        """Same- and different-MoA mean correlation of the CSG2A's maps, whole (the paper's figure) and drug-specific."""
        figures = {}
        for suffix, row in (("", "with prior"), ("_drug_specific", "with prior, drug-specific")):
            figures[f"same_moa_r{suffix}"] = float(self.moa.same_moa_r[row])
            figures[f"different_moa_r{suffix}"] = float(self.moa.different_moa_r[row])
        return figures

    def best_terms(self, fdr: float = 0.05, per_drug: int = 2) -> pd.DataFrame:
        """Each drug's strongest terms below ``fdr`` (drug, term, overlap, fdr)."""
        significant = self.enrichment[self.enrichment.fdr < fdr].sort_values("fdr")
        return significant.groupby("drug").head(per_drug)[["drug", "term", "overlap", "fdr"]]


def _upper(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices_from(matrix, k=1)]


def top_pairs(attention: np.ndarray, genes: Sequence[str], k: int) -> pd.DataFrame:
    """The ``k`` gene pairs (i < j) with the largest attention, strongest first."""
    rows, cols = np.triu_indices_from(attention, k=1)
    values = attention[rows, cols]
    k = min(k, len(values))
    best = np.argpartition(-values, k - 1)[:k]
    best = best[np.argsort(-values[best], kind="stable")]
    names = np.asarray(genes)
    return pd.DataFrame(
        {"rank": np.arange(1, k + 1), "gene_a": names[rows[best]], "gene_b": names[cols[best]], "attention": values[best]}
    )


def moa_correlations(maps: Mapping[str, Mapping[str, np.ndarray]], moa: Mapping[str, str]) -> pd.DataFrame:
    """Pearson correlation of every two drugs' maps (upper triangles), whole and drug-specific, per kind of map.

    ``maps`` holds per kind (e.g. "with prior", "without prior") each drug's map. The
    drug-specific part is a map minus the mean map of the drugs: what every drug shares (the
    basal expression's term, the prior) otherwise dominates the correlation of any two drugs.
    """
    kinds = list(maps)
    drugs = sorted(maps[kinds[0]])
    i, j = np.triu_indices(len(drugs), k=1)
    out = pd.DataFrame({"drug_a": np.asarray(drugs)[i], "drug_b": np.asarray(drugs)[j]})
    out["same_moa"] = [moa[a] == moa[b] for a, b in zip(out.drug_a, out.drug_b, strict=True)]
    for kind in kinds:
        whole = np.vstack([_upper(maps[kind][d]) for d in drugs])
        out[f"r {kind}"] = np.corrcoef(whole)[i, j]
        out[f"r {kind}, drug-specific"] = np.corrcoef(whole - whole.mean(axis=0))[i, j]
    return out


def moa_summary(correlations: pd.DataFrame) -> pd.DataFrame:
    """Per map, the mean correlation of same- and of different-MoA drug pairs and a one-sided Mann–Whitney test."""
    from scipy.stats import mannwhitneyu

    same = correlations.same_moa.to_numpy(bool)
    if same.all() or not same.any():
        raise DataError(
            "the MoA comparison needs drug pairs of the same and of different mechanisms; the drugs have "
            f"{'one mechanism' if same.all() else 'no shared mechanism'}"
        )
    rows = []
    for column in [c for c in correlations.columns if c.startswith("r ")]:
        r = correlations[column].to_numpy()
        test = mannwhitneyu(r[same], r[~same], alternative="greater")
        rows.append(
            {
                "map": column.removeprefix("r "),
                "same_moa_r": float(r[same].mean()),
                "different_moa_r": float(r[~same].mean()),
                "same_pairs": int(same.sum()),
                "different_pairs": int((~same).sum()),
                "p_one_sided": float(test.pvalue),
            }
        )
    return pd.DataFrame(rows).set_index("map")


def sensitive_vs_resistant(basal: np.ndarray, perturbed: np.ndarray, ln_ic50: np.ndarray, quantile: float) -> dict[str, float]:
    """Zero-shot distance ‖perturbed − basal‖ of the most sensitive vs most resistant lines, and genes differing.

    The sensitive group is the ``quantile`` of lines with the lowest ln IC50, the resistant the
    same share with the highest; the distance test is one-sided (sensitive farther), genes are
    compared with Welch t-tests, BH-corrected.
    """
    from scipy.stats import ttest_ind

    order = np.argsort(ln_ic50, kind="stable")
    n = max(round(quantile * len(order)), 2)
    if 2 * n > len(order):
        raise DataError(f"{len(order)} cell lines cannot give two groups of {n}")
    sensitive, resistant = order[:n], order[-n:]
    distance = np.linalg.norm(perturbed - basal, axis=1)
    test = ttest_ind(distance[sensitive], distance[resistant], alternative="greater")
    genes = ttest_ind(perturbed[sensitive], perturbed[resistant], axis=0, equal_var=False).pvalue
    fdr = benjamini_hochberg(np.nan_to_num(genes, nan=1.0))
    return {
        "lines_per_group": n,
        "distance_sensitive": float(distance[sensitive].mean()),
        "distance_resistant": float(distance[resistant].mean()),
        "t": float(test.statistic),
        "p_one_sided": float(test.pvalue),
        "genes_differing": int((fdr < 0.05).sum()),
    }


def attention_report(
    models: Mapping[str, Any],
    rows_by_drug: Mapping[str, tuple[np.ndarray, np.ndarray]],
    genes: Sequence[str],
    moa: Mapping[str, str],
    libraries: Mapping[str, Mapping[str, Sequence[str]]],
    *,
    n_pairs: int = 1000,
    quantile: float = 0.25,
) -> AttentionReport:
    """Seed 003's interpretation of fine-tuned CSG2As over the drugs of ``rows_by_drug`` (drug → (x rows, ln IC50)).

    ``models`` maps a kind of map to its network: the first (CSG2A with the STRING prior) is
    interpreted in full, every one enters the MoA correlation (seed 003 compares the network
    retrained without the prior). ``genes`` are the networks' genes in order, ``moa`` each drug's
    mechanism, ``libraries`` the gene-set libraries of the enrichment (background: the genes).
    """
    main = next(iter(models))
    maps: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in models}
    pairs, terms, moved = [], [], []
    for drug, (x, ln_ic50) in sorted(rows_by_drug.items()):
        for kind, model in models.items():
            maps[kind][drug] = model.mean_attention(x)
        top = top_pairs(maps[main][drug], genes, n_pairs).assign(drug=drug)
        pairs.append(top)
        members = list(dict.fromkeys([*top.gene_a, *top.gene_b]))
        terms.append(enrich(members, libraries, genes).assign(drug=drug))
        basal, perturbed = models[main].perturbed_profiles(x)
        moved.append({"drug": drug, **sensitive_vs_resistant(basal, perturbed, ln_ic50, quantile)})
    correlations = moa_correlations(maps, moa)
    return AttentionReport(
        pd.concat(pairs, ignore_index=True),
        pd.concat(terms, ignore_index=True),
        moa_summary(correlations),
        pd.DataFrame(moved),
        correlations,
    )


def choose_library(libraries: Mapping[str, Mapping[str, Sequence[str]]], name: str) -> dict[str, Mapping[str, Sequence[str]]]:
    """The libraries whose file name contains ``name`` (case-insensitive), e.g. reactome or wikipathways."""
    chosen = {role: sets for role, sets in libraries.items() if name.casefold() in role.casefold()}
    if not chosen:
        raise DataError(f"no gene-set library matches {name!r}; the fetched libraries are {sorted(libraries)}")
    return chosen


def drug_rows(data: Any, drugs: Sequence[str] | None, min_lines: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per drug of a ``ResponseData`` (all, or ``drugs``), its cell lines' model inputs and ln IC50s (≥ ``min_lines`` lines)."""
    out = {}
    for drug, rows in data.responses.groupby("drug").groups.items():
        if (drugs is None or str(drug) in drugs) and len(rows) >= min_lines:
            out[str(drug)] = data.arrays(np.asarray(rows))
    if len(out) < 2:
        raise DataError(f"{len(out)} drug(s) have at least {min_lines} cell lines; the MoA comparison needs two or more")
    return out
