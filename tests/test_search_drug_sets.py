"""Drug-set enrichment of a query's ranked perturbagens: hypergeometric by hand, running sum against the textbook walk."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError
from l1k_assets.search.drug_sets import drug_set_enrichment, drug_sets, hypergeometric, named_sets, running_sum


def ranking() -> pd.DataFrame:
    """Twelve perturbagens best first for a reversal query: HDAC inhibitors and one shRNA of HDAC1 lead."""
    names = ["vorinostat", "panobinostat", "HDAC1", "entinostat", "gefitinib", "erlotinib"]
    names += ["afatinib", "sirolimus", "everolimus", "TP53", "MYC", "dmso-like"]
    types = ["trt_cp"] * 12
    types[2], types[9], types[10] = "trt_sh", "trt_sh", "trt_oe"
    return pd.DataFrame(
        {
            "pert_id": [f"P{k:02d}" for k in range(12)],
            "pert_iname": names,
            "pert_type": types,
            "tau": np.linspace(-99.0, 60.0, 12),
        }
    )


HUB_NAMES = ["vorinostat", "panobinostat", "entinostat", "gefitinib", "erlotinib", "afatinib", "sirolimus", "everolimus"]


def hub() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pert_iname": HUB_NAMES,
            "moa": ["HDAC inhibitor"] * 3 + ["EGFR inhibitor"] * 3 + ["MTOR inhibitor"] * 2,
            "target": ["HDAC1|HDAC2", "HDAC1|HDAC2|HDAC3", "HDAC1", "EGFR", "EGFR", "EGFR|ERBB2", "MTOR", "MTOR"],
        }
    )


def test_sets_split_multi_values_and_give_knockdowns_their_gene() -> None:
    perts = ranking()
    targets = drug_sets(perts, "target", hub())
    assert targets["HDAC1"] == ["trt_cp:P00", "trt_cp:P01", "trt_sh:P02", "trt_cp:P03"]  # inhibitors and the knock-down
    assert targets["ERBB2"] == ["trt_cp:P06"] and targets["MYC"] == ["trt_oe:P10"]
    assert drug_sets(perts, "moa", hub())["MTOR inhibitor"] == ["trt_cp:P07", "trt_cp:P08"]
    assert drug_sets(perts, "pert_type")["trt_sh"] == ["trt_sh:P02", "trt_sh:P09"]
    assert named_sets(perts, {"mine": ["GEFITINIB", "P07", "unknown"]}) == {"mine": ["trt_cp:P04", "trt_cp:P07"]}
    with pytest.raises(DataError, match=r"moa enrichment needs a 'moa' column in the ranking or the compound table \(columns"):
        drug_sets(perts, "moa", hub().drop(columns="moa"))


def test_hypergeometric_p_values_are_the_hand_computed_tail() -> None:
    ranked = [f"d{k}" for k in range(10)]
    table = hypergeometric(ranked, {"A": ["d0", "d2", "d5", "d9"], "B": ["d1", "d7"], "tiny": ["d3"]}, top=3).set_index("set")
    # A: 2 of its 4 members in the top 3 of 10: P(X ≥ 2) = (C(4,2)·C(6,1) + C(4,3)·C(6,0)) / C(10,3) = 40/120
    assert table.loc["A", "p_value"] == pytest.approx((comb(4, 2) * comb(6, 1) + comb(4, 3)) / comb(10, 3), abs=1e-12)
    assert table.loc["B", "p_value"] == pytest.approx(1 - comb(8, 3) / comb(10, 3), abs=1e-12)  # P(X ≥ 1)
    assert "tiny" not in table.index and table.loc["A", "overlap"] == 2 and table.loc["A", "members_in_top"] == "d0|d2"
    low, high = sorted(table.p_value)  # BH over the two sets tested: the larger stays, the smaller doubles (capped by it)
    np.testing.assert_allclose(sorted(table.fdr), sorted([min(2 * low, high), high]), atol=1e-12)
    with pytest.raises(DataError, match="top 10 of 10"):
        hypergeometric(ranked, {"A": ranked}, top=10)


def walk_es(scores: pd.Series, members: set[str]) -> float:
    """The weighted (p = 1) running sum of GSEA, position by position: its largest deviation from 0."""
    ordered = scores.sort_values(ascending=False)
    hits = ordered.index.isin(list(members))
    weights = np.abs(ordered.to_numpy()) * hits
    steps = np.where(hits, weights / weights.sum(), -1.0 / (len(ordered) - hits.sum()))
    running = np.cumsum(steps)
    return float(running[np.abs(running).argmax()])


def test_the_running_sum_is_gseapys_prerank_and_equals_the_walk() -> None:
    rng = np.random.default_rng(0)
    scores = pd.Series(rng.normal(size=60), index=[f"x{k}" for k in range(60)])
    top_set = set(scores.sort_values(ascending=False).index[:6]) | {"x1"}
    sets = {"top": sorted(top_set), "random": [f"x{k}" for k in range(0, 60, 7)]}
    table = running_sum(scores, sets, permutations=200, seed=1).set_index("set")
    for name, members in sets.items():
        assert table.loc[name, "es"] == pytest.approx(walk_es(scores, set(members)), abs=1e-6)
    assert table.loc["top", "nes"] > 0 and table.loc["top", "p_value"] < 0.05 and table.loc["random", "p_value"] > 0.05
    assert set(table.loc["top", "leading_edge"].split("|")) <= top_set
    assert (table.p_value >= 1 / 201).all()  # never below what 200 permutations can support


def test_a_batch_summary_names_the_set_gathered_at_the_top() -> None:
    from l1k_assets.search.session import _top_set

    enrichment = pd.DataFrame(
        {"test": ["running_sum", "running_sum", "hypergeometric"], "set": ["bottom", "top", "hits"], "fdr": [0.001, 0.01, 0.5]}
    ).assign(nes=[-1.8, 1.6, np.nan])
    assert _top_set(enrichment) == "top" and _top_set(enrichment.iloc[[0]]) == "" and _top_set(None) == ""


def test_enrichment_finds_the_reversing_mechanism_in_both_tests() -> None:
    table = drug_set_enrichment(ranking(), "tau", "reverse", ("moa", "target", "pert_type"), hub(), top=4, permutations=200)
    hdac = table[(table.kind == "moa") & (table.set == "HDAC inhibitor")].set_index("test")
    assert hdac.loc["hypergeometric", "overlap"] == 3 and hdac.loc["hypergeometric", "p_value"] < 0.02
    assert hdac.loc["running_sum", "nes"] > 0  # reversers come first: a positive NES gathers at the top
    assert {"moa", "target", "pert_type"} == set(table.kind) and table.columns[:6].tolist()[:3] == ["kind", "test", "set"]
    with pytest.raises(DataError, match="no moa set has 2 or more"):
        drug_set_enrichment(ranking().iloc[[0, 4, 7]], "tau", "reverse", ("moa",), hub(), top=1, permutations=10)
