"""Reversal against response: GDSC drugs matched to LINCS compounds, relative sensitivity by hand, the planted correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from l1k_assets.errors import DataError
from l1k_assets.response.reversal import (
    _spearman_permutation,
    correlation_table,
    match_compounds,
    pubchem_text,
    relative_sensitivity,
    reversal_validation,
)
from tests.conftest import MaterializedHome


def test_drugs_match_by_pubchem_then_by_name_or_synonym() -> None:
    gdsc = pd.DataFrame(
        {
            "drug": ["1", "2", "3", "4"],
            "name": ["Other name", "5-Fluorouracil", "Unknownib", "Nothing"],
            "synonyms": ["", "", "SYN-1, Vorinostat", ""],
            "pubchem": ["5291", "", "", "-666"],
        }
    )
    lincs = pd.DataFrame(
        {"pert_iname": ["imatinib", "fluorouracil", "5-fluorouracil", "vorinostat"], "pubchem": [5291.0, 3385, 3385, ""]}
    )
    matches = match_compounds(gdsc, lincs).set_index("drug")
    assert matches.to_dict("index") == {
        "1": {"pert_iname": "imatinib", "matched_by": "pubchem"},
        "2": {"pert_iname": "5-fluorouracil", "matched_by": "name"},  # punctuation and case do not count
        "3": {"pert_iname": "vorinostat", "matched_by": "name"},  # through a synonym
    }
    assert pubchem_text(pd.Series(["5291.0", "x", -666, None, 7])).tolist() == ["5291", "", "", "", "7"]


def test_relative_sensitivity_is_the_types_mean_minus_every_lines() -> None:
    responses = pd.DataFrame(
        {
            "cell_line": ["a", "b", "c", "d", "a", "b"],
            "drug": ["X", "X", "X", "X", "Y", "Y"],
            "ln_ic50": [1.0, 3.0, 5.0, 7.0, 2.0, np.nan],
        }
    )
    labels = pd.Series({"a": "COAD/READ", "b": "COAD/READ", "c": "LUAD", "d": "LUAD"})
    table = relative_sensitivity(responses, labels, {"COAD": "COAD", "LUAD": "LUAD"}, min_lines=2).set_index(
        ["cancer_type", "drug"]
    )
    assert table.relative_ln_ic50.to_dict() == {("COAD", "X"): 2.0 - 4.0, ("LUAD", "X"): 6.0 - 4.0}  # Y: one COAD line
    assert table.n_lines.tolist() == [2, 2]


def test_the_stratified_spearman_and_its_permutation_p() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = x + rng.normal(scale=0.5, size=30)
    rho, p = _spearman_permutation(x, y, np.zeros(30), 999, 0)
    assert rho == pytest.approx(spearmanr(x, y)[0], abs=1e-12) and p == pytest.approx(0.001)
    _, p_null = _spearman_permutation(x, rng.permutation(y), np.zeros(30), 999, 0)
    assert p_null > 0.01
    pairs = pd.DataFrame({"cancer_type": ["A"] * 3, "score": [1.0, 2.0, 3.0], "relative_ln_ic50": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="no cancer type has 5 or more compounds"):
        correlation_table(pairs, 10, 0, 5)


def test_no_matched_drug_is_an_error_before_any_statistic() -> None:
    empty = pd.DataFrame(columns=["drug", "pert_iname", "matched_by"])
    with pytest.raises(DataError, match="no GDSC drug matches a LINCS compound by PubChem id or name"):
        reversal_validation(pd.DataFrame(), pd.DataFrame(), pd.Series(dtype=str), empty)


def test_planted_reversers_are_more_potent_in_their_cancer_type(tiny_home: MaterializedHome) -> None:
    meta = tiny_home.metadata("out_reversal_validation", "GSE92742")
    pairs = tiny_home.table("out_reversal_validation", "GSE92742")
    assert meta["matched_drugs"].value == {"pubchem": 12}  # GDSC's drugs join LINCS by PubChem id, as real ones do
    assert meta["pooled_spearman"].value > 0.25 and meta["pooled_p_permutation"].value < 0.02, meta["correlations"].value
    assert abs(meta["shuffled_labels_spearman"].value) < 0.2
    assert "data:image/png;base64," in meta["reversal_vs_sensitivity"].value and pairs.cancer_type.nunique() >= 3
