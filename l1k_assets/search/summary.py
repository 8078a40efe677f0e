"""Perturbagen and mechanism summaries of a query, by CLUE's maximum-quantile rule.

A compound is profiled in several cell lines (and at several doses and times in each); CLUE
summarises its connections with the *maximum quantile*: take the 67th and the 33rd percentile
of the scores and keep whichever is larger in magnitude. A compound that reverses the query in
most cell lines summarises strongly negative, one that is strong in a single line does not,
and one whose lines disagree lands near 0, which a mean or a best shot would both hide.

The rule runs twice, as in CLUE: over a perturbagen's signatures within each cell line (its
doses and times), then over its cell lines, reporting how many there were. Mechanisms (MoA,
CLUE's perturbagen classes) summarise their members' perturbagen scores the same way.
Percentiles are MATLAB's ``prctile`` (numpy's ``hazen`` method), the convention of CMap's tools.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError

QUANTILES = (33.0, 67.0)


def max_quantile(values: Sequence[float] | np.ndarray) -> float:
    """The 67th or the 33rd percentile of ``values``, whichever is larger in magnitude (the 67th on a tie); NaN if empty."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[~np.isnan(finite)]
    if not len(finite):
        return float("nan")
    low, high = np.percentile(finite, QUANTILES, method="hazen")
    return float(high if abs(high) >= abs(low) else low)


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{what} needs columns {list(columns)}; the table lacks {missing}")


def _type_keys(table: pd.DataFrame, by: str) -> list[str]:
    """Group keys that never merge perturbagen types: an shRNA and a compound may share a name or an id scheme."""
    return ["pert_type", by] if "pert_type" in table.columns and by != "pert_type" else [by]


def summarize_perturbagens(scores: pd.DataFrame, values: Sequence[str] = ("tau", "ncs"), by: str = "pert_id") -> pd.DataFrame:
    """One row per perturbagen (per perturbagen type): the maximum-quantile summary of each of ``values`` across its cell lines.

    ``scores`` has one row per signature with ``by``, ``cell_id`` and the value columns (other
    annotations such as pert_iname and moa are carried, first value per perturbagen). With a
    ``pert_type`` column a perturbagen is ``(pert_type, by)``: types are never merged.
    Within a cell line the rule summarises the signatures first; ``n_cell_lines`` and
    ``n_signatures`` say how much went in; rows are in descending order of the first value.
    """
    _require(scores, [by, "cell_id", *values], "a perturbagen summary")
    keys = _type_keys(scores, by)
    per_cell = scores.groupby([*keys, "cell_id"], sort=False, observed=True)[list(values)].agg(max_quantile).reset_index()
    grouped = per_cell.groupby(keys, sort=False, observed=True)
    summary = grouped[list(values)].agg(max_quantile)
    summary["n_cell_lines"] = grouped.size()
    summary["n_signatures"] = scores.groupby(keys, sort=False, observed=True).size()
    carried = [c for c in ("pert_iname", "moa") if c in scores.columns and c not in keys]
    if carried:
        summary = summary.join(scores.groupby(keys, sort=False, observed=True)[carried].first())
    summary = summary.sort_values(values[0], ascending=False, kind="stable").reset_index()
    return summary[[by, *[c for c in summary.columns if c != by]]]


def summarize_mechanisms(perturbagens: pd.DataFrame, value: str = "tau", members_listed: int = 5) -> pd.DataFrame:
    """One row per mechanism (``moa``, '|'-separated as the Repurposing Hub writes it): members' summary by the same rule.

    A perturbagen with two mechanisms counts in both; one without a mechanism in none; with a
    ``pert_type`` column a mechanism is summarised per type. ``members`` lists the
    ``members_listed`` strongest members (by |value|) by name.
    """
    _require(perturbagens, ["moa", value], "a mechanism summary")
    name = "pert_iname" if "pert_iname" in perturbagens.columns else perturbagens.columns[0]
    keys = _type_keys(perturbagens, "moa")
    table = perturbagens[list(dict.fromkeys([name, *keys, value]))].dropna(subset=["moa"])
    table = table.assign(moa=table.moa.astype(str).str.split("|")).explode("moa")
    table["moa"] = table.moa.str.strip()
    table = table[table.moa != ""]
    rows = []
    for key, members in table.groupby(keys, sort=True):
        strongest = members.reindex(members[value].abs().sort_values(ascending=False, kind="stable").index)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                value: max_quantile(members[value].to_numpy()),
                "n_perturbagens": len(members),
                "members": ", ".join(strongest[name].astype(str).head(members_listed)),
            }
        )
    result = pd.DataFrame(rows, columns=["moa", *[k for k in keys if k != "moa"], value, "n_perturbagens", "members"])
    return result.sort_values(value, ascending=False, kind="stable").reset_index(drop=True)
