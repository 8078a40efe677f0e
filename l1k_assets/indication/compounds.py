"""From signature probabilities to compound, genetic-perturbagen and mechanism scores per cancer type.

Seed 000 scores a compound by its best signature ("best shot"); it notes that this favours
strong nonspecific responders, so the median and a trimmed mean over the compound's
signatures are reported beside it, with how many signatures and cell lines stand behind each.
Only compound signatures become compound scores; shRNA, CRISPR and ORF signatures get their
own per-target-gene scores, and controls are never ranked.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from scipy.stats import trim_mean

from l1k_assets.errors import DataError

AGGREGATES = ("best_shot", "median", "trimmed_mean")
COMPOUNDS = ("trt_cp",)
GENETIC = ("trt_sh", "trt_xpr", "trt_oe")  # knock-down, knock-out, over-expression: summarised per target gene


def perturbagen_scores(
    probabilities: pd.DataFrame,
    signatures: pd.DataFrame,
    classes: list[str],
    pert_types: Sequence[str] = COMPOUNDS,
    by: str = "pert_id",
    trim: float = 0.1,
) -> pd.DataFrame:
    """Long table: one row per perturbagen of ``pert_types`` × cancer type with the three aggregates and their support.

    Real releases mix compounds with shRNAs, ORFs, CRISPR guides and controls; only the
    signatures of ``pert_types`` are aggregated, a perturbagen is ``(pert_type, by)`` so types
    never merge, and control types (vehicle, untreated, empty vector) are refused: they are
    the background, never a candidate. ``by="pert_iname"`` summarises genetic perturbagens per
    target gene over their hairpins or guides (``n_perturbagens`` counts them).
    """
    controls = [t for t in pert_types if str(t).startswith("ctl")]
    if controls or not pert_types:
        raise DataError(f"perturbagen scores rank treatments; {controls or 'no type'} cannot be ranked (controls never are)")
    meta = signatures.set_index("sig_id")[["pert_type", "pert_id", "pert_iname", "cell_id"]]
    missing = probabilities.index.difference(meta.index)
    if len(missing):
        raise DataError(f"{len(missing)} scored signatures are not in the signature table, e.g. {missing[:3].tolist()}")
    joined = probabilities[classes].join(meta)
    joined = joined[joined.pert_type.isin(list(pert_types))]
    keys = ["pert_type", by]
    ids = [c for c in ("pert_id", "pert_iname") if c != by]
    long = joined.melt(id_vars=[*keys, *ids, "cell_id"], value_vars=classes, var_name="cancer_type", value_name="p")
    grouped = long.groupby([*keys, "cancer_type"], sort=True)
    named = {c: (c, "first") for c in ids} if by == "pert_id" else {"n_perturbagens": ("pert_id", "nunique")}
    out = grouped.agg(
        **named,
        best_shot=("p", "max"),
        median=("p", "median"),
        trimmed_mean=("p", lambda v: float(trim_mean(v, trim))),
        n_signatures=("p", "size"),
        n_cell_lines=("cell_id", "nunique"),
    ).reset_index()
    out["global_best_shot"] = out.groupby(keys).best_shot.transform("max")
    out["global_median"] = out.groupby(keys)["median"].transform("max")
    return out


def compound_scores(probabilities: pd.DataFrame, signatures: pd.DataFrame, classes: list[str], trim: float = 0.1) -> pd.DataFrame:
    """Per compound (``trt_cp`` signatures only) × cancer type: :func:`perturbagen_scores` by ``pert_id``."""
    return perturbagen_scores(probabilities, signatures, classes, COMPOUNDS, "pert_id", trim)


def rank_within_type(scores: pd.DataFrame, by: str) -> pd.Series:
    """Rank (1 = best) of each perturbagen within its cancer type (and perturbagen type) under one aggregate."""
    keys = ["pert_type", "cancer_type"] if "pert_type" in scores.columns else ["cancer_type"]
    return scores.groupby(keys)[by].rank(ascending=False, method="min").astype(int)


def moa_scores(scores: pd.DataFrame, moa: pd.DataFrame, by: str = "median") -> pd.DataFrame:
    """Mechanism-level scores: per MoA and cancer type, the median of its compounds' scores and how many there are.

    ``moa`` maps pert_iname to one or more '|'-separated mechanisms (the Repurposing Hub's format).
    """
    table = moa[["pert_iname", "moa"]].dropna()
    table = table.assign(moa=table.moa.astype(str).str.split("|")).explode("moa")
    table["moa"] = table.moa.str.strip()
    merged = scores.merge(table, on="pert_iname", how="inner")
    if merged.empty:
        raise DataError("no scored compound has a mechanism of action in the compound table (pert_iname did not match)")
    return (
        merged.groupby(["moa", "cancer_type"])
        .agg(score=(by, "median"), best=(by, "max"), n_compounds=("pert_id", "nunique"))
        .reset_index()
        .sort_values(["cancer_type", "score"], ascending=[True, False])
    )


def shortlist(scores: pd.DataFrame, by: str, n: int = 10) -> pd.DataFrame:
    """The top-n perturbagens of each cancer type (and perturbagen type) under one aggregate."""
    ranked = scores.assign(rank=rank_within_type(scores, by))
    names = [c for c in ("pert_type", "pert_id", "pert_iname") if c in scores.columns]
    return ranked[ranked["rank"] <= n].sort_values(["cancer_type", *names[:1], "rank"])[
        ["cancer_type", "rank", *names, by, "n_signatures", "n_cell_lines"]
    ]


def top_compounds_matrix(scores: pd.DataFrame, by: str, n: int = 5) -> dict[str, pd.Series]:
    """Per cancer type, the n best compounds' scores (for the Figure-8 bar charts)."""
    return {ctype: group.nlargest(n, by).set_index("pert_iname")[by] for ctype, group in scores.groupby("cancer_type")}
