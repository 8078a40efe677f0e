"""Seed 003's patient sources: Xena's TCGA hub and Ding et al.'s responses, read from the generated hub and over HTTP."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError, FormatError
from l1k_assets.response.readers import read_gdsc_expression
from l1k_assets.response.tcga import (
    fetch_tcga_hub,
    gdsc_cohorts,
    match_gdsc_drugs,
    primary_tumors,
    read_drug_responses,
    read_probe_map,
    read_xena_expression,
    read_xena_phenotype,
    response_summary,
)
from l1k_assets.sources.download import Downloader
from l1k_assets.sources.layout import (
    GDSC_COMPOUNDS_FILE,
    GDSC_EXPRESSION_FILE,
    GDSC_RESPONSE_FILE,
    TCGA_RESPONSE_FILE,
    XENA_PROBE_MAP,
    gdsc_url,
    xena_file_url,
    xena_url,
)
from l1k_assets.synthetic.response_writer import write_response_sources
from l1k_assets.synthetic.universe import build_universe
from tests.httpserver import serve_directory


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The tiny universe's GDSC and TCGA files, and their planted truth."""
    root = tmp_path_factory.mktemp("sources")
    return root, write_response_sources(build_universe("tiny"), root)


def _base(root: Path) -> str:
    return str(root / "tcga")


def test_the_hub_reads_as_patients_by_gene_symbol_primary_tumors_only(hub: tuple[Path, dict]) -> None:
    root, truth = hub
    probe_map = read_probe_map(xena_file_url(_base(root), XENA_PROBE_MAP))
    assert probe_map.index.str.match(r"^ENSG\d{11}$").all()  # versions stripped
    for cohort, facts in truth["tcga"]["cohorts"].items():
        expression = read_xena_expression(xena_url(_base(root), cohort, "expression"), probe_map)
        phenotype = read_xena_phenotype(xena_url(_base(root), cohort, "phenotype"))
        tumors = primary_tumors(expression, phenotype, cohort)
        assert len(tumors) == facts["patients"] and len(expression) == facts["patients"] + 3  # three normals left out
        assert tumors.index.str.fullmatch(r"TCGA-\w\w-\d{4}").all() and set(tumors.columns) == set(probe_map)
        assert np.isfinite(tumors.to_numpy()).all() and (tumors.to_numpy() >= 0).all()  # log2(FPKM + 1)


def test_responses_keep_recist_classes_and_match_gdsc_names(hub: tuple[Path, dict]) -> None:
    root, truth = hub
    responses = read_drug_responses(xena_file_url(_base(root), TCGA_RESPONSE_FILE))
    assert set(responses.response) <= {"Complete Response", "Partial Response", "Stable Disease", "Clinical Progressive Disease"}
    assert (responses.responder == responses.response.isin(["Complete Response", "Partial Response"])).all()
    assert not responses.drug.str.startswith(" ").any()  # padded names stripped, "[Not Available]" dropped
    gdsc = pd.read_csv(gdsc_url(str(root / "gdsc"), GDSC_COMPOUNDS_FILE)).DRUG_NAME
    matched, missing = match_gdsc_drugs(responses.assign(drug=responses.drug.str.upper()), gdsc)
    assert missing == [truth["tcga"]["not_in_gdsc"].upper()] and set(matched.drug) <= set(gdsc)
    assert set(matched.drug) == set(truth["tcga"]["planted_drugs"]) | set(truth["tcga"]["null_drugs"])
    summary = response_summary(matched)
    assert (summary.responders + summary.non_responders == summary.n).all()


def test_planted_drugs_respond_along_the_gdsc_sensitivity(hub: tuple[Path, dict]) -> None:
    """Responders of a planted drug follow its GDSC sensitivity; a null drug's are a coin flip.

    Every drug's planted ln IC50 rises with the fitness module (``gdsc.fitness_coefficient`` > 0),
    so a planted drug's responders express it less, measured on the hub's own scale.
    """
    root, truth = hub
    planted = set(truth["tcga"]["planted_drugs"])
    responses = read_drug_responses(xena_file_url(_base(root), TCGA_RESPONSE_FILE))
    probe_map = read_probe_map(xena_file_url(_base(root), XENA_PROBE_MAP))
    fitness = truth["gdsc"]["fitness_genes"]
    gaps = {"planted": [], "null": []}
    for cohort in truth["tcga"]["cohorts"]:
        expression = read_xena_expression(xena_url(_base(root), cohort, "expression"), probe_map)
        tumors = primary_tumors(expression, read_xena_phenotype(xena_url(_base(root), cohort, "phenotype")), cohort)
        proliferation = tumors[fitness].mean(axis=1)
        for drug, rows in responses[responses.cancer == cohort].groupby("drug"):
            if drug in planted or drug in truth["tcga"]["null_drugs"]:
                by_class = proliferation.reindex(rows.patient).groupby(rows.responder.to_numpy()).mean()
                gaps["planted" if drug in planted else "null"].append(by_class[True] - by_class[False])
    assert truth["gdsc"]["fitness_coefficient"] > 0
    assert np.mean(gaps["planted"]) < -0.3 and abs(np.mean(gaps["null"])) < 0.3, gaps


def test_cohorts_come_from_gdsc_labels_and_the_hub_fetches_over_http(hub: tuple[Path, dict], tmp_path: Path) -> None:
    root, truth = hub
    response_file = gdsc_url(str(root / "gdsc"), GDSC_RESPONSE_FILE)
    assert set(truth["tcga"]["cohorts"]) <= set(gdsc_cohorts(response_file))
    assert "READ" in gdsc_cohorts(response_file) or "COAD" not in gdsc_cohorts(response_file)  # COAD/READ is two cohorts
    with serve_directory(root) as server:
        fetched = fetch_tcga_hub(Downloader(tmp_path / "cache", retries=1, backoff_s=0.01), f"{server.url}/tcga", response_file)
    assert fetched.cohorts == sorted(truth["tcga"]["cohorts"]) and fetched.without_gdsc_lines == []
    roles = set(fetched.files.role)
    assert roles == {"responses", "probe_map"} | {f"{c}.{k}" for c in fetched.cohorts for k in ("expression", "phenotype")}
    expression = fetched.files.set_index("role").loc[f"{fetched.cohorts[0]}.expression"]
    assert expression.url.endswith(f"/tcga/download/TCGA-{fetched.cohorts[0]}.htseq_fpkm.tsv.gz")
    with gzip.open(expression.path, "rt") as text:
        assert text.readline().startswith("Ensembl_ID\t")


def test_bad_hub_files_name_the_file_and_what_was_expected(hub: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = hub
    phenotype = tmp_path / "TCGA-XX.GDC_phenotype.tsv"
    phenotype.write_text("submitter_id.samples\tprimary_site\nTCGA-A1-0001-01A\tLung\n")
    with pytest.raises(FormatError, match=r"TCGA-XX\.GDC_phenotype\.tsv, line 1: expected columns .*sample_type\.samples"):
        read_xena_phenotype(phenotype)
    matrix = tmp_path / "matrix.tsv"
    matrix.write_text("gene\tTCGA-A1-0001-01A\nENSG1\t1.0\n")
    with pytest.raises(FormatError, match=r"matrix\.tsv, line 1: expected columns Ensembl_ID"):
        read_xena_expression(matrix, pd.Series({"ENSG1": "TP53"}))
    normals = pd.DataFrame({"sample": ["TCGA-A1-0001-11A"], "patient": ["TCGA-A1-0001"], "sample_type": ["Solid Tissue Normal"]})
    with pytest.raises(DataError, match="TCGA-XX: no sample of type 'Primary Tumor'"):
        primary_tumors(pd.DataFrame({"TP53": [1.0]}, index=["TCGA-A1-0001-11A"]), normals, "XX")
    responses = tmp_path / "responses.tsv"
    responses.write_text("cancer\tdrug_name\tmeasure_of_response\nLUAD\tCisplatin\tStable Disease\n")
    with pytest.raises(FormatError, match="bcr_patient_barcode"):
        read_drug_responses(responses)
    assert read_gdsc_expression(gdsc_url(str(root / "gdsc"), GDSC_EXPRESSION_FILE)).shape[0] > 0


# ---------------------------------------------------------------- ComBat and the model's scale


def test_harmonisation_is_inmoose_combat_with_gdsc_as_the_reference() -> None:
    from inmoose.pycombat import pycombat_norm

    from l1k_assets.response.patients import harmonise_cohort

    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(6)]
    gdsc = pd.DataFrame(rng.normal(8.0, 1.0, (5, 6)), index=[f"c{i}" for i in range(5)], columns=genes)
    tcga = pd.DataFrame(rng.normal(3.0, 2.0, (7, 6)), index=[f"p{i}" for i in range(7)], columns=genes)
    tcga["G5"] = 1.0  # constant in one source: ComBat cannot scale it
    result = harmonise_cohort("LUAD", gdsc, tcga.assign(EXTRA=0.5))
    direct = pycombat_norm(pd.concat([gdsc, tcga]).T.iloc[:5], ["GDSC"] * 5 + ["TCGA"] * 7, ref_batch="GDSC").T
    np.testing.assert_allclose(result.after.to_numpy(), direct.to_numpy())
    np.testing.assert_allclose(result.after.loc[gdsc.index].to_numpy(), gdsc[genes[:5]].to_numpy())  # the reference stays
    assert result.dropped_genes == ["G5"] and list(result.patients().index) == list(tcga.index)
    separation = result.separation()
    assert separation["silhouette_after"] < separation["silhouette_before"]
    with pytest.raises(DataError, match="cohort LUAD: 1 TCGA sample"):
        harmonise_cohort("LUAD", gdsc, tcga.iloc[:1])


def test_a_cohort_combat_cannot_take_is_left_out_by_name() -> None:
    from l1k_assets.response.patients import patient_inputs

    rng = np.random.default_rng(1)
    genes = [f"G{i}" for i in range(6)]
    gdsc = pd.DataFrame(rng.normal(8.0, 1.0, (6, 6)), index=[f"c{i}" for i in range(6)], columns=genes)
    labels = pd.Series(["LUAD"] * 5 + ["SKCM"], index=gdsc.index)  # one melanoma line: no batch for ComBat
    tumors = {
        c: pd.DataFrame(rng.normal(3.0, 2.0, (4, 6)), index=[f"{c}-p{i}" for i in range(4)], columns=genes)
        for c in ("LUAD", "SKCM")
    }
    inputs = patient_inputs(tumors, gdsc, labels)
    assert set(inputs.expression.cohort) == {"LUAD"} and list(inputs.skipped) == ["SKCM"]
    assert "cohort SKCM: 1 GDSC sample(s); ComBat needs at least 2 per batch" in inputs.skipped["SKCM"]
    with pytest.raises(DataError, match="no TCGA cohort can be batch-corrected against GDSC: cohort SKCM"):
        patient_inputs({"SKCM": tumors["SKCM"]}, gdsc, labels)


def test_patients_are_scaled_by_gdscs_median_and_mad() -> None:
    from l1k_assets.response.patients import gdsc_robust_z, split_by_cohort

    gdsc = pd.DataFrame({"A": [1.0, 2.0, 4.0, 10.0], "B": [5.0, 5.0, 5.0, 5.0]}, index=["c1", "c2", "c3", "c4"])
    patients = pd.DataFrame({"A": [3.0], "B": [6.0]}, index=["p1"])
    z = gdsc_robust_z(gdsc, patients)
    assert z.loc["p1", "A"] == pytest.approx((3.0 - 3.0) / (1.4826 * 1.5))  # median 3, MAD median(|x − 3|) = 1.5
    assert z.loc["p1", "B"] == pytest.approx(1.0 / (1.4826 * 0.01))  # a constant GDSC gene is divided by the floor
    cohorts = split_by_cohort(gdsc, pd.Series({"c1": "COAD/READ", "c2": "LUAD", "c3": "COAD/READ", "c9": "LUAD"}))
    assert list(cohorts["COAD"].index) == list(cohorts["READ"].index) == ["c1", "c3"] and list(cohorts["LUAD"].index) == ["c2"]


def test_combat_brings_the_generated_patients_onto_gdsc(hub: tuple[Path, dict]) -> None:
    from l1k_assets.response.patients import patient_inputs
    from l1k_assets.response.tcga import cohort_tumors, gdsc_tcga_labels

    root, truth = hub
    roles = {"probe_map": xena_file_url(_base(root), XENA_PROBE_MAP)}
    for cohort in truth["tcga"]["cohorts"]:
        roles |= {f"{cohort}.{kind}": xena_url(_base(root), cohort, kind) for kind in ("expression", "phenotype")}
    files = pd.DataFrame({"role": list(roles), "path": list(roles.values())})
    gdsc = read_gdsc_expression(gdsc_url(str(root / "gdsc"), GDSC_EXPRESSION_FILE))
    inputs = patient_inputs(cohort_tumors(files), gdsc, gdsc_tcga_labels(gdsc_url(str(root / "gdsc"), GDSC_RESPONSE_FILE)))
    separation = inputs.separation().set_index("cohort")
    assert (separation.silhouette_after < separation.silhouette_before - 0.2).all(), separation
    patients = inputs.expression.drop(columns="cohort")
    assert len(patients) == sum(c["patients"] for c in truth["tcga"]["cohorts"].values())
    assert abs(float(patients.median().median())) < 0.5  # on GDSC's robust-z scale, not log2(FPKM + 1)


# ---------------------------------------------------------------- responders against non-responders


def test_responder_tests_are_scipys_one_sided_t_and_centre_within_cancer_type() -> None:
    from scipy.stats import ttest_ind

    from l1k_assets.response.patients import one_class_groups, responder_tests

    rng = np.random.default_rng(4)
    n = 40
    cancer = np.repeat(["A", "B"], n)
    responder = np.r_[rng.random(n) < 0.8, rng.random(n) < 0.2]  # type A holds most responders
    predicted = np.where(cancer == "A", -1.0, 1.0) + rng.normal(0.0, 0.5, 2 * n)  # the drug is stronger on type A only
    table = pd.DataFrame({"cancer": cancer, "patient": [f"p{i}" for i in range(2 * n)], "drug": "X"})
    table = table.assign(responder=responder, predicted_ln_ic50=predicted)
    pooled = responder_tests(table, within_cancer_type=False).iloc[0]
    expected = ttest_ind(predicted[responder], predicted[~responder], alternative="less")
    assert pooled.p_one_sided == pytest.approx(expected.pvalue) and pooled.t == pytest.approx(expected.statistic)
    assert pooled.p_one_sided < 1e-3  # the pooled test credits the type
    within = responder_tests(table).iloc[0]
    assert within.p_one_sided > 0.05  # within each type the responders are no more sensitive
    few = responder_tests(table, min_per_class=100).iloc[0]
    assert np.isnan(few.p_one_sided) and few.responders == int(responder.sum())
    assert one_class_groups(table.assign(responder=table.cancer == "A")) == ["A/X", "B/X"]


def test_patients_responding_to_planted_drugs_are_predicted_more_sensitive(tiny_home) -> None:
    truth = tiny_home.manifest()["truth"]["response"]["tcga"]
    meta = tiny_home.metadata("out_patient_response")
    tests = tiny_home.table("out_patient_response").groupby("drug").size()
    assert set(tests.index) == set(truth["planted_drugs"]) | set(truth["null_drugs"])
    assert (
        meta["drugs_not_in_gdsc"].value == [truth["not_in_gdsc"]]
        and "data:image/png;base64," in meta["predictions_by_response"].value
    )
    rows = [line.split("|") for line in meta["responder_tests"].value.splitlines()[2:]]
    p = {r[1].strip(): float(r[-3]) for r in rows}
    d = {r[1].strip(): float(r[-2]) for r in rows}
    assert sum(p[drug] < 0.05 for drug in truth["planted_drugs"]) >= 2, p
    assert all(p[drug] > 0.05 for drug in truth["null_drugs"]), p
    assert min(d[x] for x in truth["planted_drugs"]) > max(d[x] for x in truth["null_drugs"]), d
    separation = tiny_home.metadata("core_patient_expression")
    assert separation["mean_silhouette_after"].value < separation["mean_silhouette_before"].value - 0.2
    assert "data:image/png;base64," in separation["pca_after"].value


# ---------------------------------------------------------------- what the attention learned


def test_top_pairs_moa_correlations_and_perturbation_by_hand() -> None:
    from l1k_assets.response.interpretation import moa_correlations, moa_summary, sensitive_vs_resistant, top_pairs

    attention = np.array([[9.0, 1.0, 5.0], [1.0, 9.0, 3.0], [5.0, 3.0, 9.0]])
    pairs = top_pairs(attention, ["A", "B", "C"], 2)
    assert pairs[["gene_a", "gene_b", "attention"]].values.tolist() == [["A", "C", 5.0], ["B", "C", 3.0]]  # diagonal never

    rng = np.random.default_rng(0)
    shared = {"ab": rng.normal(size=(6, 6)), "cd": rng.normal(size=(6, 6))}  # a and b share one pattern, c and d another
    without = {d: shared["ab" if d in "ab" else "cd"] + rng.normal(0, 0.2, (6, 6)) for d in "abcd"}
    common = 5.0 * rng.normal(size=(6, 6))  # what every drug's map shares (basal term, prior) swamps the whole map
    maps = {"with prior": {d: m + common for d, m in without.items()}, "without prior": without}
    correlations = moa_correlations(maps, {"a": "X", "b": "X", "c": "Y", "d": "Y"}).set_index(["drug_a", "drug_b"])
    upper = {d: m[np.triu_indices(6, 1)] for d, m in maps["with prior"].items()}
    mean = np.mean(list(upper.values()), axis=0)
    whole = np.corrcoef(upper["a"], upper["c"])[0, 1]
    specific = np.corrcoef(upper["a"] - mean, upper["c"] - mean)[0, 1]
    assert correlations.loc[("a", "c"), "r with prior"] == pytest.approx(whole) and whole > 0.8  # different MoAs, yet alike
    assert correlations.loc[("a", "c"), "r with prior, drug-specific"] == pytest.approx(specific) and specific < 0
    assert correlations.same_moa.sum() == 2 and len(correlations) == 6
    summary = moa_summary(correlations.reset_index())
    assert list(summary.index) == ["with prior", "with prior, drug-specific", "without prior", "without prior, drug-specific"]
    assert (summary.same_moa_r > summary.different_moa_r).all()
    specific_parts = summary.loc["with prior, drug-specific"]
    assert specific_parts.same_moa_r - specific_parts.different_moa_r > 1
    with pytest.raises(DataError, match="one mechanism"):
        moa_summary(correlations.reset_index().assign(same_moa=True))

    ln_ic50 = np.arange(12.0)
    basal = np.zeros((12, 4))
    perturbed = np.where(ln_ic50[:, None] < 3, 2.0, 0.5) + rng.normal(0, 0.01, (12, 4))  # the 3 most sensitive move most
    moved = sensitive_vs_resistant(basal, perturbed, ln_ic50, 0.25)
    assert moved["lines_per_group"] == 3 and moved["distance_sensitive"] == pytest.approx(4.0, abs=0.05)
    assert moved["p_one_sided"] < 0.001 and moved["genes_differing"] == 4


def test_attention_interpretation_maps_every_drug_it_can(tiny_home) -> None:
    pairs = tiny_home.table("out_attention_interpretation")
    meta = tiny_home.metadata("out_attention_interpretation")
    assert (pairs.groupby("drug").size() == 100).all() and meta["drugs"].value == pairs.drug.nunique() >= 2
    assert pairs.groupby("drug").attention.is_monotonic_decreasing.all() and pairs.drug_name.notna().all()
    assert "| with prior " in meta["moa_correlation"].value and "| without prior " in meta["moa_correlation"].value
    # the planted MoA groups (reversers of one cancer type: one GDSC pathway, one L1000 effect) in whole maps and their own parts
    assert meta["same_moa_r"].value > meta["different_moa_r"].value
    assert meta["same_moa_r_drug_specific"].value > meta["different_moa_r_drug_specific"].value + 0.3
    rows = [line.split("|") for line in meta["sensitive_vs_resistant"].value.splitlines()[2:]]
    farther = [float(r[3]) > float(r[4]) for r in rows]  # distance_sensitive > distance_resistant
    assert len(rows) == meta["drugs"].value and np.mean(farther) > 0.5  # the drug moves sensitive lines more, as in seed 003
