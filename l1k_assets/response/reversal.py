"""Does a reversal mean something? Connectivity scores of each cancer type against GDSC sensitivity in its cell lines.

OCTAD checks its reversal ranking against drug sensitivity in matching cell lines; l1k holds
both halves. For each cancer type, every compound with a reversal score for that type's
consensus query (``out_connectivity_scores``: τ, or the median NCS where τ is missing; the query
is the type's normal − tumor delta, so a compound that moves tumors toward normal scores
positive) that GDSC
screened (matched by PubChem id through the Repurposing Hub's samples, else by normalised
name or synonym) is placed against its **relative sensitivity** in that type's cell lines:
the mean ln IC50 over the type's lines minus the mean over all lines, so a drug's overall
potency cancels and what remains is how much more the type's lines respond. Its negative is the
**sensitivity** correlated here: a reversal that means something comes with a positive Spearman
correlation, the stronger the reversal, the more sensitive the type's lines.

Each type gets the correlation and a one-sided permutation p-value (compounds' sensitivities
shuffled); a pooled row permutes within types. A control repeats everything with the cell
lines' cancer-type labels shuffled (seeded), which should leave nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError

# l1k's tumor–normal cancer types → the TCGA cohort GDSC labels their cell lines with (TCGA_DESC; COAD/READ is both)
CANCER_TYPE_COHORTS = {
    "BRCA": "BRCA",
    "COAD": "COAD",
    "ESCC": "ESCA",
    "HNSC": "HNSC",
    "KIRC": "KIRC",
    "LIHC": "LIHC",
    "LUAD": "LUAD",
    "STAD": "STAD",
    "THCA": "THCA",
}


def normalised_name(name: object) -> str:
    """A drug name compared across resources: case-folded, without spaces, hyphens or other punctuation."""
    return re.sub(r"[^0-9a-z]", "", str(name).casefold())


def pubchem_text(values: pd.Series) -> pd.Series:
    """PubChem CIDs as text ('' where missing or not a positive id): files write them as 5291, 5291.0 or -666."""
    numbers = pd.to_numeric(values, errors="coerce")
    valid = numbers.notna() & (numbers > 0) & (numbers == numbers.round())
    return pd.Series(np.where(valid, numbers.fillna(0).astype("int64").astype(str), ""), index=values.index)


def match_compounds(gdsc: pd.DataFrame, lincs: pd.DataFrame) -> pd.DataFrame:
    """GDSC drugs matched to LINCS compounds: by PubChem id first, then by normalised name or synonym.

    ``gdsc``: drug (DRUG_ID), name, synonyms ('', comma-separated), pubchem; ``lincs``: pert_iname,
    pubchem (any spelling ``pubchem_text`` reads). Returns drug, pert_iname, matched_by.
    """
    lincs = lincs.assign(pubchem=pubchem_text(lincs.pubchem))
    by_cid = lincs[lincs.pubchem != ""].drop_duplicates("pubchem").set_index("pubchem").pert_iname
    by_name = lincs.assign(key=lincs.pert_iname.map(normalised_name)).drop_duplicates("key").set_index("key").pert_iname
    rows = []
    for drug in gdsc.assign(pubchem=pubchem_text(gdsc.pubchem)).itertuples(index=False):
        cid = str(drug.pubchem)
        if cid and cid in by_cid.index:
            rows.append({"drug": drug.drug, "pert_iname": by_cid[cid], "matched_by": "pubchem"})
            continue
        names = [drug.name, *[s for s in str(drug.synonyms).split(",") if s.strip()]]
        hit = next((by_name[k] for k in map(normalised_name, names) if k and k in by_name.index), None)
        if hit is not None:
            rows.append({"drug": drug.drug, "pert_iname": hit, "matched_by": "name"})
    return pd.DataFrame(rows, columns=["drug", "pert_iname", "matched_by"])


def relative_sensitivity(
    responses: pd.DataFrame, line_types: pd.Series, cancer_types: Mapping[str, str], min_lines: int
) -> pd.DataFrame:
    """Per (cancer type, drug): mean ln IC50 in the type's lines minus the mean over every line, and the lines counted.

    ``responses``: cell_line, drug, ln_ic50; ``line_types``: cell line → TCGA label (``COAD/READ``
    counts for both); ``cancer_types``: l1k type → TCGA cohort.
    """
    measured = responses.dropna(subset=["ln_ic50"])
    overall = measured.groupby("drug").ln_ic50.mean()
    labels = measured.cell_line.map(line_types).fillna("").astype(str)
    parts = labels.str.split("/")
    rows = []
    for cancer, cohort in cancer_types.items():
        inside = measured[parts.map(lambda p, c=cohort: c in p).to_numpy(bool)]
        stats = inside.groupby("drug").ln_ic50.agg(["mean", "size"])
        stats = stats[stats["size"] >= min_lines]
        rows.append(
            pd.DataFrame(
                {
                    "cancer_type": cancer,
                    "drug": stats.index,
                    "relative_ln_ic50": (stats["mean"] - overall[stats.index]).to_numpy(),
                    "n_lines": stats["size"].to_numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _spearman_permutation(x: np.ndarray, y: np.ndarray, groups: np.ndarray, permutations: int, seed: int) -> tuple[float, float]:
    """Spearman ρ of x and y (ranked within each group, then pooled) and its one-sided permutation p (y shuffled in groups)."""
    from scipy.stats import rankdata

    def centred_ranks(values: np.ndarray) -> np.ndarray:
        out = np.empty(len(values))
        for g in np.unique(groups):
            at = groups == g
            ranks = rankdata(values[at])
            out[at] = ranks - ranks.mean()
        return out

    rx, ry = centred_ranks(x), centred_ranks(y)
    denominator = np.sqrt((rx**2).sum() * (ry**2).sum())
    if denominator == 0:
        return float("nan"), float("nan")
    rho = float(rx @ ry / denominator)
    rng = np.random.default_rng(seed)
    shuffled = np.tile(ry, (permutations, 1))
    for g in np.unique(groups):
        at = np.flatnonzero(groups == g)
        shuffled[:, at] = rng.permuted(shuffled[:, at], axis=1)
    null = shuffled @ rx / denominator
    return rho, float((1 + (null >= rho - 1e-12).sum()) / (1 + permutations))


def correlation_table(pairs: pd.DataFrame, permutations: int, seed: int, min_compounds: int) -> pd.DataFrame:
    """Per cancer type and pooled: compounds, Spearman ρ of reversal score and sensitivity (−relative ln IC50), permutation p."""
    rows = []
    for cancer, group in pairs.groupby("cancer_type", sort=True):
        if len(group) >= min_compounds:
            x, y = group.score.to_numpy(), -group.relative_ln_ic50.to_numpy()
            rho, p = _spearman_permutation(x, y, np.zeros(len(group)), permutations, seed)
            rows.append({"cancer_type": cancer, "n_compounds": len(group), "spearman": rho, "p_permutation": p})
    kept = pairs[pairs.cancer_type.isin([r["cancer_type"] for r in rows])]
    if kept.empty:
        raise DataError(f"no cancer type has {min_compounds} or more compounds with both a reversal score and GDSC sensitivity")
    rho, p = _spearman_permutation(
        kept.score.to_numpy(), -kept.relative_ln_ic50.to_numpy(), kept.cancer_type.to_numpy(), permutations, seed
    )
    rows.append({"cancer_type": "pooled (within types)", "n_compounds": len(kept), "spearman": rho, "p_permutation": p})
    return pd.DataFrame(rows)


def reversal_pairs(scores: pd.DataFrame, sensitivity: pd.DataFrame, matches: pd.DataFrame) -> pd.DataFrame:
    """Each (cancer type, matched compound) with its reversal score (τ, else median NCS) and relative ln IC50."""
    scored = scores.assign(score=scores.tau.where(scores.tau.notna(), scores.ncs_median))
    joined = sensitivity.merge(matches, on="drug").merge(
        scored[["cancer_type", "pert_id", "pert_iname", "score"]], on=["cancer_type", "pert_iname"]
    )
    return joined.dropna(subset=["score", "relative_ln_ic50"]).reset_index(drop=True)


def reversal_validation(
    scores: pd.DataFrame,
    responses: pd.DataFrame,
    line_types: pd.Series,
    matches: pd.DataFrame,
    cancer_types: Mapping[str, str] = CANCER_TYPE_COHORTS,
    *,
    min_lines: int = 3,
    min_compounds: int = 5,
    permutations: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, correlations): the compounds' reversal scores against their relative sensitivity, and the test per type.

    The correlations carry a ``labels`` column: ``GDSC`` for the cell lines' own cancer types,
    ``shuffled`` for the control with the lines' labels permuted (seed ``seed``).
    """
    if matches.empty:
        raise DataError("no GDSC drug matches a LINCS compound by PubChem id or name")
    pairs = reversal_pairs(scores, relative_sensitivity(responses, line_types, cancer_types, min_lines), matches)
    shuffled_types = pd.Series(np.random.default_rng(seed).permutation(line_types.to_numpy()), index=line_types.index)
    control = reversal_pairs(scores, relative_sensitivity(responses, shuffled_types, cancer_types, min_lines), matches)
    table = pd.concat(
        [
            correlation_table(pairs, permutations, seed, min_compounds).assign(labels="GDSC"),
            correlation_table(control, permutations, seed, min_compounds).assign(labels="shuffled"),
        ],
        ignore_index=True,
    )
    return pairs, table
