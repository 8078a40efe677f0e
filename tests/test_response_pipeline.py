"""Method 4 end to end on the tiny embedded universe: CSG2A pretrained on L1000 pays on the planted GDSC response."""

import numpy as np
import pandas as pd

from l1k_assets.response.benchmark import MODELS
from l1k_assets.response.splits import SCHEMES
from tests.conftest import MaterializedHome

RELEASE = "GSE92742"


def _rmse(tiny_home: MaterializedHome) -> pd.DataFrame:
    per_fold = pd.concat([tiny_home.table("model_csg2a_finetuned", s) for s in SCHEMES])
    return per_fold.groupby(["scheme", "model"]).rmse.mean().unstack("scheme")


def test_pretraining_and_expression_beat_the_means_on_planted_response(tiny_home: MaterializedHome) -> None:
    rmse = _rmse(tiny_home)
    assert rmse.loc["csg2a", "mixed"] < rmse.loc["csg2a_no_pretraining", "mixed"], rmse  # pretraining on L1000 pays
    for scheme in SCHEMES:
        for model in MODELS[2:]:  # the per-drug mean is the global mean on unseen drugs
            if np.isfinite(rmse.loc[model, scheme]):  # the ablations run in the demo's ablation schemes only
                assert rmse.loc[model, scheme] < rmse.loc["mean", scheme], (model, scheme, rmse)
    for scheme in ("mixed", "cell_blind"):  # expression adds to knowing the drug
        assert rmse.loc["csg2a", scheme] < rmse.loc["drug_mean", scheme], (scheme, rmse)
    assert rmse.loc["csg2a", "drug_blind"] > rmse.loc["csg2a", "mixed"], rmse  # an unseen drug is harder (Table 1)


def test_fine_tuning_records_its_profile_and_budget(tiny_home: MaterializedHome) -> None:
    per_fold = tiny_home.table("model_csg2a_finetuned", "mixed")
    assert {"seconds", "epochs", "stopped_by_budget"} <= set(per_fold.columns)
    assert per_fold.fold.nunique() == 3  # the demo profile's folds
    meta = tiny_home.metadata("model_csg2a_finetuned", "mixed")
    run_profile = meta["run_profile"].value
    assert run_profile["profile"] == "demo" and run_profile["settings"]["n_folds"] == 3
    assert meta["stopped_by_budget"].value == bool(per_fold.stopped_by_budget.any())
    paired = meta["figure_2_paired_t"].value  # seed 003 Fig. 2: every model against CSG2A on the same folds
    ablations = ("csg2a_no_pretraining", "csg2a_unfrozen", "csg2a_no_ppi", "csg2a_plain")
    assert all(f"| {m} " in paired for m in (*ablations, "svm"))


def test_table_1_and_ablation_figure_are_published(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_drug_response_benchmark").set_index("model")
    assert table.index.tolist() == list(MODELS)
    assert table.loc["mean", "mixed PCC"] == "N/D" and "±" in table.loc["csg2a", "drug_blind RMSE"]
    meta = tiny_home.metadata("out_drug_response_benchmark")
    assert "data:image/png;base64," in meta["ablations"].value and meta["mlflow_run_id"].value


def test_pretraining_learns_the_compound_effects(tiny_home: MaterializedHome) -> None:
    pretrained = tiny_home.table("model_csg2a_pretrained").set_index("variant")
    assert (pretrained.val_mse < 0.7 * pretrained.basal_copy_mse).all(), pretrained
    pairs = tiny_home.table("core_pretraining_pairs", RELEASE)
    instances = tiny_home.table("core_lincs_instances", RELEASE)
    assert len(pairs) == int((instances.pert_type == "trt_cp").sum())
    basal = pairs.filter(like="basal:").to_numpy()
    assert np.isfinite(basal).all() and set(pairs.basal_source) <= {"plate", "batch"}


def test_invalid_smiles_are_excluded_and_named(tiny_home: MaterializedHome) -> None:
    invalid = {str(d) for d in tiny_home.manifest()["truth"]["response"]["invalid_smiles"]}
    drugs = tiny_home.table("core_drug_conditions")
    assert invalid and not invalid & set(drugs.drug.astype(str))
    meta = tiny_home.metadata("core_drug_conditions")
    assert meta["n_excluded"].value == len(invalid)
    assert all(d in meta["excluded"].value for d in invalid)
