"""What a query's hits have in common: drug-set enrichment over its ranked perturbagens (signatureSearch's DSEA/TSEA).

A query ranks perturbagens (``QueryResult.perturbagens``, best first). Drug sets group them
by what is known of them: their mechanism (``moa``) and their targets (``target``) from the
release's compound table or the Drug Repurposing Hub, their perturbagen type (``pert_type``,
a compound, an shRNA, an ORF …), or any GMT of perturbagen names a user gives. A genetic
perturbagen's target is its gene, so a target set holds the gene's inhibitors and its
knock-downs together. Two tests per set, both BH-adjusted within each kind of set:

- **over-representation** among the top ``top`` perturbagens: the hypergeometric upper tail
  over the ranked perturbagens (the universe), as signatureSearch's ``dsea_hyperG``;
- **a weighted running sum** over the whole ranking: gseapy's ``prerank`` on the signed scores,
  oriented so that the query's direction comes first (reversers for ``reverse``): a positive
  NES means the set gathers at the top. Its nominal p-values are BH-adjusted here; gseapy's own
  permutation FDR is kept beside them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.genesets.enrichment import benjamini_hochberg

SET_KINDS = ("moa", "target", "pert_type")
MULTI_VALUE = re.compile(r"\s*\|\s*")  # the Repurposing Hub's separator of several mechanisms or targets
GENETIC_PREFIXES = ("trt_sh", "trt_oe", "trt_xpr", "trt_si")  # perturbagen types whose name is the gene they act on
MIN_SET = 2


def _item_ids(perturbagens: pd.DataFrame) -> pd.Series:
    """One id per ranked perturbagen: its type and id, since an shRNA and a compound may share a name."""
    kind = perturbagens.pert_type.astype(str) if "pert_type" in perturbagens.columns else pd.Series("", perturbagens.index)
    return kind + ":" + perturbagens.pert_id.astype(str)


def drug_sets(perturbagens: pd.DataFrame, kind: str, annotations: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """Sets of the ranked perturbagens' ids by ``kind`` (``SET_KINDS``), from their own columns or ``annotations``.

    ``annotations`` (the Repurposing Hub's drug table, or a release's compound table) is joined
    by ``pert_iname`` for what the ranking lacks; '|'-separated values count once each.
    """
    if kind not in SET_KINDS:
        raise DataError(f"drug sets are built by {list(SET_KINDS)}, not {kind!r}")
    ids = _item_ids(perturbagens)
    values = perturbagens[kind] if kind in perturbagens.columns else None
    if values is None and annotations is not None and kind in annotations.columns and "pert_iname" in perturbagens.columns:
        by_name = annotations.dropna(subset=[kind]).drop_duplicates("pert_iname").set_index("pert_iname")[kind]
        values = perturbagens.pert_iname.map(by_name)
    if kind == "target" and "pert_type" in perturbagens.columns:
        genetic = perturbagens.pert_type.astype(str).str.startswith(GENETIC_PREFIXES).to_numpy()
        values = (values if values is not None else pd.Series(pd.NA, index=perturbagens.index)).astype(object)
        values[genetic] = perturbagens.pert_iname[genetic]
    if values is None or values.isna().all():
        table = "" if annotations is None else f" or the compound table (columns {list(annotations.columns)[:8]})"
        where = "the ranking" + table
        raise DataError(f"{kind} enrichment needs a {kind!r} column in {where}")
    sets: dict[str, list[str]] = {}
    for item, value in zip(ids, values, strict=True):
        if isinstance(value, str) and value.strip():
            for member_of in MULTI_VALUE.split(value.strip()):
                sets.setdefault(member_of, []).append(item)
    return {name: list(dict.fromkeys(items)) for name, items in sets.items()}


def named_sets(perturbagens: pd.DataFrame, sets: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """A user's GMT of perturbagen names (pert_iname or pert_id) as sets of the ranked perturbagens' ids."""
    ids = _item_ids(perturbagens)
    by_name: dict[str, list[str]] = {}
    for column in ("pert_iname", "pert_id"):
        if column in perturbagens.columns:
            for name, item in zip(perturbagens[column].astype(str), ids, strict=True):
                by_name.setdefault(name.casefold(), []).append(item)
    return {
        name: list(dict.fromkeys(item for member in members for item in by_name.get(str(member).casefold(), [])))
        for name, members in sets.items()
    }


def hypergeometric(ranked: Sequence[str], sets: Mapping[str, Sequence[str]], top: int, min_size: int = MIN_SET) -> pd.DataFrame:
    """Over-representation of each set (≥ ``min_size`` ranked members) among the first ``top`` of ``ranked``."""
    from scipy.stats import hypergeom

    universe = list(dict.fromkeys(ranked))
    if not 0 < top < len(universe):
        raise DataError(f"the top {top} of {len(universe)} ranked perturbagens leaves nothing to compare them with")
    chosen = set(universe[:top])
    known = set(universe)
    rows = []
    for name, members in sets.items():
        inside = [m for m in dict.fromkeys(members) if m in known]
        if len(inside) < min_size:
            continue
        hits = [m for m in inside if m in chosen]
        rows.append(
            {
                "set": name,
                "size": len(inside),
                "overlap": len(hits),
                "expected": top * len(inside) / len(universe),
                "p_value": float(hypergeom.sf(len(hits) - 1, len(universe), len(inside), top)),
                "members_in_top": "|".join(hits),
            }
        )
    return _adjusted(pd.DataFrame(rows, columns=["set", "size", "overlap", "expected", "p_value", "members_in_top"]))


def running_sum(
    scores: pd.Series,
    sets: Mapping[str, Sequence[str]],
    permutations: int = 1000,
    seed: int = 0,
    min_size: int = MIN_SET,
) -> pd.DataFrame:
    """gseapy's prerank (weight 1, sets permuted) of ``scores`` (item → score, higher = nearer the top) over ``sets``."""
    import gseapy

    if scores.index.has_duplicates or not np.isfinite(scores.to_numpy(np.float64)).all():
        raise DataError("a running-sum test needs one finite score per ranked perturbagen")
    tokens = pd.Series([f"P{k:07d}" for k in range(len(scores))], index=scores.index)  # gseapy upper-cases names
    token_sets = {name: [tokens[m] for m in members if m in tokens.index] for name, members in sets.items()}
    token_sets = {name: members for name, members in token_sets.items() if len(members) >= min_size}
    columns = ["set", "size", "es", "nes", "p_value", "gseapy_fdr", "leading_edge"]
    if not token_sets:
        return _adjusted(pd.DataFrame(columns=columns))
    result = gseapy.prerank(
        rnk=pd.Series(scores.to_numpy(np.float64), index=tokens.to_numpy()),
        gene_sets=token_sets,
        min_size=min_size,
        max_size=len(scores),
        permutation_num=permutations,
        seed=seed,
        threads=1,
        outdir=None,
        no_plot=True,
    ).res2d
    back = pd.Series(tokens.index, index=tokens.to_numpy())
    table = pd.DataFrame(
        {
            "set": result.Term.astype(str),
            "size": [len(token_sets[t]) for t in result.Term.astype(str)],
            "es": result.ES.astype(float),
            "nes": result.NES.astype(float),
            # gseapy reports 0 when no permutation reaches the observed ES; the smallest p it can support is 1/(K + 1)
            "p_value": np.maximum(result["NOM p-val"].astype(float), 1.0 / (permutations + 1)),
            "gseapy_fdr": result["FDR q-val"].astype(float),
            "leading_edge": ["|".join(back[t] for t in str(edge).split(";") if t in back.index) for edge in result.Lead_genes],
        }
    )
    return _adjusted(table.sort_values("p_value", kind="stable").reset_index(drop=True))


def _adjusted(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table["fdr"] = benjamini_hochberg(table.p_value.to_numpy(np.float64)) if len(table) else []
    return table.sort_values(["p_value", "set"], kind="stable").reset_index(drop=True)


def drug_set_enrichment(
    perturbagens: pd.DataFrame,
    key: str,
    direction: str,
    kinds: Sequence[str] = ("moa", "target"),
    annotations: pd.DataFrame | None = None,
    gmt_sets: Mapping[str, Sequence[str]] | None = None,
    top: int = 20,
    permutations: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Both tests for every kind of set over a query's ranked perturbagens (best first, scored by ``key``).

    One row per (kind, test, set); ``kind`` is ``moa``, ``target``, ``pert_type`` or ``gmt``.
    """
    ranked = perturbagens.dropna(subset=[key]).reset_index(drop=True)
    ids = _item_ids(ranked)
    oriented = ranked[key].astype(np.float64) * (-1.0 if direction == "reverse" else 1.0)
    scores = pd.Series(oriented.to_numpy(), index=ids.to_numpy())
    by_kind = {kind: drug_sets(ranked, kind, annotations) for kind in kinds}
    if gmt_sets:
        by_kind["gmt"] = named_sets(ranked, gmt_sets)
    tables = []
    for kind, sets in by_kind.items():
        over = hypergeometric(ids.tolist(), sets, min(top, len(ids) - 1)).assign(kind=kind, test="hypergeometric")
        walk = running_sum(scores, sets, permutations, seed).assign(kind=kind, test="running_sum")
        tables += [over, walk]
    table = pd.concat([t for t in tables if len(t)], ignore_index=True) if any(len(t) for t in tables) else pd.DataFrame()
    if table.empty:
        raise DataError(f"no {'/'.join(by_kind)} set has {MIN_SET} or more of the {len(ids)} ranked perturbagens")
    first = ["kind", "test", "set", "size", "p_value", "fdr"]
    return table[first + [c for c in table.columns if c not in first]]


def enrichment_plot(table: pd.DataFrame, title: str, shown: int = 10) -> bytes:
    """Bars of −log10 FDR of the strongest sets, one panel per test (what the asset page and ``--output`` show)."""
    from l1k_assets import plots

    panels = {}
    for test, rows in table.groupby("test", sort=True):
        best = rows.nsmallest(shown, "fdr")
        labels = best.kind.astype(str) + ": " + best.set.astype(str)
        panels[str(test)] = pd.Series(-np.log10(np.maximum(best.fdr.to_numpy(np.float64), 1e-300)), index=labels.to_numpy())
    return plots.bar_panels(panels, title, "−log10 FDR")
