"""End to end: the README's main command on the tiny embedded universe, and the remote path over HTTP.

These tests read what ``l1k materialize`` wrote (Parquet tables, the Dagster instance) and
compare it with the truth the generator planted, so a broken loader cannot pass by accident.
"""

import gzip
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from l1k_assets.geo.catalog import load_catalog
from l1k_assets.lincs.gctx import read_gctx
from l1k_assets.synthetic.universe import SCALES
from l1k_jobs.definitions import ALL_ASSETS
from l1k_jobs.resources_config import build_resources
from tests.conftest import PROJECT_ROOT, MaterializedHome
from tests.httpserver import serve_directory

TINY = SCALES["tiny"]
RELEASE = "GSE92742"


def test_main_command_materializes_every_asset_and_says_where_results_are(tiny_home: MaterializedHome) -> None:
    with tiny_home.instance() as instance:
        for asset in ALL_ASSETS:
            for key in asset.keys:
                assert instance.get_latest_materialization_event(key) is not None, f"{key.to_user_string()} not materialized"
        cohorts = instance.get_materialized_partitions(dg.AssetKey("core_geo_expression"))
    assert cohorts == {c.cohort for c in load_catalog()}
    assert "l1k ui" in tiny_home.output
    assert str(tiny_home.home / "tables") in tiny_home.output.replace("\n", "")


def test_main_command_runs_independent_assets_at_once_on_two_cores(tiny_home: MaterializedHome) -> None:
    """The README command's default: one run per core (this machine has two), so independent runs overlap."""
    from l1k_jobs.concurrency import usable_cores

    if usable_cores() < 2:
        pytest.skip("one usable core: the default runs one at a time")
    assert "2 at once" in tiny_home.output
    with tiny_home.instance() as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(tags={"l1k/runner": "main"}))
    spans = sorted((r.start_time, r.end_time) for r in records)
    assert len(spans) > 60 and all(start and end for start, end in spans)
    overlapping = sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)
    assert overlapping > 10, f"only {overlapping} runs started before the previous one ended"


def test_main_command_shows_progress_and_ends_with_the_stage_times(tiny_home: MaterializedHome) -> None:
    out = tiny_home.output
    assert "run profile demo" in out
    assert "▶ model_expression_inference [gnn]" in out and "✓ model_expression_inference [gnn] in" in out
    assert "… model_expression_inference [gnn]" in out, "training progress reaches the console as it happens"
    table = out[out.index("l1k materialization:") :]
    for asset in ("model_expression_inference", "model_csg2a_finetuned", "model_indication_classifier", "core_lincs_level5"):
        assert asset in table, f"{asset} missing from the stage-time table"
    assert "peak RSS MB" in table


def test_every_checkpoint_records_the_run_profile(tiny_home: MaterializedHome) -> None:
    manifests = sorted((tiny_home.home / "checkpoints").glob("*/*/manifest.json"))
    assert {m.parent.parent.name for m in manifests} >= {
        "model_expression_inference",
        "model_indication_classifier",
        "model_csg2a_pretrained",
        "model_csg2a_finetuned",
    }
    for manifest in manifests:
        extra = json.loads(manifest.read_text())["extra"]
        assert extra.get("profile") == "demo", f"{manifest} does not record the run profile"


def test_geo_path_recovers_the_planted_pairs_exactly(tiny_home: MaterializedHome) -> None:
    truth = tiny_home.manifest()["truth"]["geo"]
    expected_per_type: dict[str, int] = {}
    for cohort in load_catalog():
        if cohort.cohort != "GDS507":
            expected_per_type[cohort.cancer_type] = expected_per_type.get(cohort.cancer_type, 0) + cohort.expected_pairs
        rows = tiny_home.table("core_geo_expression", cohort.cohort)
        found = {
            (
                str(p),
                rows.index[(rows.patient_id == p) & (rows.tissue == "normal")][0],
                rows.index[(rows.patient_id == p) & (rows.tissue == "tumor")][0],
            )
            for p in rows.patient_id.unique()
        }
        planted = {(str(p), n, t) for p, n, t in truth["cohorts"][cohort.cohort]["gsm_pairs"]}
        assert found == planted, cohort.cohort
    samples = tiny_home.table("core_tumor_normal_samples")
    per_type = samples[samples.tissue == "tumor"].groupby("cancer_type").size().to_dict()
    assert per_type == expected_per_type
    assert sum(per_type.values()) == 549  # seed 000's cohorts; GDS507 (HG-U133B) is left out, below


def test_a_cohort_on_a_partial_platform_is_left_out_of_the_compendium_not_shrinking_it(tiny_home: MaterializedHome) -> None:
    """GDS507's HG-U133B covers ~23 % of the landmarks: it is cleaned, flagged and left out; the others keep theirs."""
    truth = tiny_home.manifest()["truth"]["geo"]["cohorts"]
    n_landmarks = len(tiny_home.table("core_landmark_genes"))
    meta = tiny_home.metadata("core_tumor_normal_samples")
    assert list(meta["cohorts_left_out"].value) == ["GDS507"]
    assert abs(meta["cohorts_left_out"].value["GDS507"] - 221 / 978) < 0.03
    genes_lost = {g for c, t in truth.items() if c != "GDS507" for g in t["missing_landmarks"]}
    assert meta["n_genes"].value == n_landmarks - len(genes_lost)
    with tiny_home.instance() as instance:
        run_id = instance.get_latest_materialization_event(dg.AssetKey("core_tumor_normal_samples")).run_id
        warnings = [e.user_message for e in instance.all_logs(run_id) if "left out of the compendium" in e.user_message]
        key = dg.AssetCheckKey(dg.AssetKey("core_geo_expression"), "landmark_coverage")
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
        evaluations = [(r.event.dagster_event.event_specific_data, r.status.value) for r in history if r.event]
        checks = {e.metadata["cohort"].value: status for e, status in evaluations}
    assert len(warnings) == 1 and "cohort GDS507" in warnings[0] and "%" in warnings[0]
    assert checks["GDS507"] == "FAILED" and checks["GSE19804"] == "SUCCEEDED"


def test_unpaired_samples_are_dropped_and_reported_by_id(tiny_home: MaterializedHome) -> None:
    truth = tiny_home.manifest()["truth"]["geo"]["cohorts"]
    planted = {cohort: t["unpaired_gsms"] for cohort, t in truth.items() if t["unpaired_gsms"]}
    assert set(planted) == {c.cohort for c in load_catalog() if c.unpaired == "drop"} and "GDS507" in planted
    for cohort, gsms in planted.items():
        meta = tiny_home.metadata("core_geo_expression", cohort)
        assert meta["unpaired_dropped"].value == gsms and meta["source"].value == truth[cohort]["source"]


def test_raw_scale_cohorts_are_log2_transformed_and_log_scale_ones_are_not(tiny_home: MaterializedHome) -> None:
    raw_scale = set(tiny_home.manifest()["truth"]["geo"]["raw_scale_cohorts"])
    assert raw_scale, "the generator must plant raw-scale cohorts"
    for cohort in load_catalog():
        meta = tiny_home.metadata("core_geo_expression", cohort.cohort)
        assert meta["log2_transformed"].value == (cohort.cohort in raw_scale), cohort.cohort
        table = tiny_home.table("core_geo_expression", cohort.cohort)
        values = table.select_dtypes("number").to_numpy()
        assert 0 < np.nanmedian(values) < 16, f"{cohort.cohort} is not on log2 scale after cleaning"


def test_lincs_assets_match_the_generated_release(tiny_home: MaterializedHome) -> None:
    truth = tiny_home.manifest()["truth"]["lincs"]
    landmarks = tiny_home.table("core_landmark_genes")
    assert len(landmarks) == TINY.n_landmarks
    sigs = tiny_home.table("core_lincs_signatures", RELEASE)
    assert len(sigs) == truth["n_signatures"]
    assert {"pert_iname", "cell_id", "pert_dose", "pert_time", "canonical_smiles"} <= set(sigs.columns)
    level5 = tiny_home.table("core_lincs_level5", RELEASE).iloc[0]
    assert not level5.derived and level5.n_columns == truth["n_signatures"] and level5.n_genes == TINY.n_genes
    raw = tiny_home.table("raw_lincs_files", RELEASE)
    assert set(raw.checksum_verified[raw.role != "checksums"]) == {"sha512"}


def test_raw_file_metadata_carries_urls_and_checksums_of_the_bytes_on_disk(tiny_home: MaterializedHome) -> None:
    from l1k_assets.fileio import file_digest

    raw = tiny_home.table("raw_geo_series_matrix", "GSE10072")
    meta = tiny_home.metadata("raw_geo_series_matrix", "GSE10072")
    assert meta["source_sha256"].value["series_matrix"] == raw.sha256.iloc[0]
    cached = Path(raw.path.iloc[0])
    assert file_digest(cached) == raw.sha256.iloc[0]
    assert raw.url.iloc[0].endswith("/geo/series/GSE10nnn/GSE10072/matrix/GSE10072_series_matrix.txt.gz")


def test_inference_pairs_align_landmarks_with_rnaseq(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("core_inference_pairs")
    assert len(table) == TINY.n_inference_samples
    assert sum(c.startswith("l1000|") for c in table.columns) == TINY.n_landmarks - 8  # as GSE92743: 970 of 978
    assert sum(c.startswith("rnaseq|") for c in table.columns) > TINY.n_landmarks


def test_definitions_validate_with_the_workspace_file(tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "L1K_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def _remote_resources(home: Path, base: str) -> dict:
    return build_resources(env={}, home=str(home), mode="remote", geo_base_url=f"{base}/geo")


def _run(
    resources: dict, selection: list[str], partition: str | None, instance: dg.DagsterInstance, **kw
) -> dg.ExecuteInProcessResult:
    return dg.materialize(ALL_ASSETS, selection=selection, partition_key=partition, resources=resources, instance=instance, **kw)


def test_remote_mode_fetches_over_http_with_retries_and_matches_embedded(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    mirror = next((tiny_home.home / "mirror").glob("tiny-seed*"))
    cohort = "GSE10072"
    matrix_path = f"/geo/series/GSE10nnn/{cohort}/matrix/{cohort}_series_matrix.txt.gz"
    with serve_directory(mirror) as server, dg.DagsterInstance.ephemeral() as instance:
        resources = _remote_resources(tmp_path / "home", server.url)
        server.fail(matrix_path, 500, times=2)
        _run(resources, ["raw_lincs_gene_info", "core_landmark_genes"], None, instance)
        _run(resources, ["raw_geo_series_matrix", "raw_geo_platform", "core_geo_expression"], cohort, instance)
        statuses = [status for method, path, _, status in server.requests if path == matrix_path and method == "GET"]
        assert statuses == [500, 500, 200]
        table = pd.read_parquet(tmp_path / "home" / "tables" / "core_geo_expression" / f"{cohort}.parquet")
        pd.testing.assert_frame_equal(table, tiny_home.table("core_geo_expression", cohort))

        instance.add_dynamic_partitions("lincs_release", [RELEASE])
        lincs = ["raw_lincs_files", "raw_lincs_level3", "core_lincs_genes", "core_lincs_signatures", "core_lincs_instances"]
        _run(resources, [*lincs, "core_lincs_level3"], RELEASE, instance)
        for asset, roles in (("raw_lincs_files", {"gene_info", "sig_info", "level5"}), ("raw_lincs_level3", {"level3"})):
            raw = pd.read_parquet(tmp_path / "home" / "tables" / asset / f"{RELEASE}.parquet")
            assert raw.url.str.startswith(server.url).all() and roles <= set(raw.role)
            assert set(raw.checksum_verified[raw.role != "checksums"]) == {"sha512"}
        assert "level3" not in set(pd.read_parquet(tmp_path / "home" / "tables" / "raw_lincs_files" / f"{RELEASE}.parquet").role)


@pytest.mark.parametrize(
    ("cohort", "path"),
    [
        ("GDS507", "/geo/datasets/GDSnnn/GDS507/soft/GDS507.soft.gz"),
        ("GSE65801", "/geo/series/GSE65nnn/GSE65801/soft/GSE65801_family.soft.gz"),
    ],
)
def test_soft_published_cohorts_are_fetched_from_geos_soft_paths(
    tiny_home: MaterializedHome, tmp_path: Path, cohort: str, path: str
) -> None:
    mirror = next((tiny_home.home / "mirror").glob("tiny-seed*"))
    with serve_directory(mirror) as server, dg.DagsterInstance.ephemeral() as instance:
        resources = _remote_resources(tmp_path / "home", server.url)
        _run(resources, ["raw_lincs_gene_info", "core_landmark_genes"], None, instance)
        _run(resources, ["raw_geo_series_matrix", "raw_geo_platform", "core_geo_expression"], cohort, instance)
        assert ("GET", path) in {(method, p) for method, p, _, _ in server.requests}
        table = pd.read_parquet(tmp_path / "home" / "tables" / "core_geo_expression" / f"{cohort}.parquet")
        pd.testing.assert_frame_equal(table, tiny_home.table("core_geo_expression", cohort))


def test_gds_subset_naming_an_absent_sample_fails_and_writes_nothing(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    mirror = next((tiny_home.home / "mirror").glob("tiny-seed*"))
    path = "/geo/datasets/GDSnnn/GDS507/soft/GDS507.soft.gz"
    text = gzip.decompress((mirror / path.lstrip("/")).read_bytes()).decode()
    first = next(line for line in text.splitlines() if line.startswith("!subset_sample_id = "))
    broken = gzip.compress(text.replace(first, first + ",GSM9999999", 1).encode())
    with serve_directory(mirror) as server, dg.DagsterInstance.ephemeral() as instance:
        server.set_file(path, broken)
        resources = _remote_resources(tmp_path / "home", server.url)
        _run(resources, ["raw_lincs_gene_info", "core_landmark_genes"], None, instance)
        selection = ["raw_geo_series_matrix", "raw_geo_platform", "core_geo_expression"]
        result = _run(resources, selection, "GDS507", instance, raise_on_error=False)
        assert not result.success
        error = str(result.get_step_failure_events()[0].event_specific_data.error)
        assert "GDS507.soft.gz" in error and "SUBSET GDS507_1" in error and "GSM9999999" in error
        assert not (tmp_path / "home" / "tables" / "core_geo_expression" / "GDS507.parquet").exists()


def test_checksum_mismatch_fails_the_run_and_keeps_the_previous_table(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    mirror = next((tiny_home.home / "mirror").glob("tiny-seed*"))
    home = tmp_path / "home"
    with serve_directory(mirror) as server, dg.DagsterInstance.ephemeral() as instance:
        resources = _remote_resources(home, server.url)
        instance.add_dynamic_partitions("lincs_release", [RELEASE])
        _run(resources, ["raw_lincs_files"], RELEASE, instance)
        table = home / "tables" / "raw_lincs_files" / f"{RELEASE}.parquet"
        before = table.read_bytes()
        shutil.rmtree(home / "cache")
        suppl = Path("geo/series/GSE92nnn") / RELEASE / "suppl"
        level5 = next(f.name for f in (mirror / suppl).iterdir() if "_Level5_" in f.name)
        server.corrupt(f"/{suppl}/{level5}")
        result = _run(resources, ["raw_lincs_files"], RELEASE, instance, raise_on_error=False)
        assert not result.success
        failure = str(result.get_step_failure_events()[0].event_specific_data.error)
        assert "sha512 mismatch" in failure and "_Level5_" in failure
        assert table.read_bytes() == before
        assert not list((home / "tables" / "raw_lincs_files").glob(".*tmp"))


def test_broken_series_matrix_is_a_format_error_naming_the_file(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    mirror = next((tiny_home.home / "mirror").glob("tiny-seed*"))
    cohort = "GSE38129"
    matrix_path = f"/geo/series/GSE38nnn/{cohort}/matrix/{cohort}_series_matrix.txt.gz"
    text = gzip.decompress((mirror / matrix_path.lstrip("/")).read_bytes()).decode()
    broken = gzip.compress(text.replace("!series_matrix_table_end\n", "").encode())
    with serve_directory(mirror) as server, dg.DagsterInstance.ephemeral() as instance:
        server.set_file(matrix_path, broken)
        resources = _remote_resources(tmp_path / "home", server.url)
        _run(resources, ["raw_lincs_gene_info", "core_landmark_genes"], None, instance)
        result = _run(
            resources,
            ["raw_geo_series_matrix", "raw_geo_platform", "core_geo_expression"],
            cohort,
            instance,
            raise_on_error=False,
        )
        assert not result.success
        error = str(result.get_step_failure_events()[0].event_specific_data.error)
        assert "FormatError" in error and f"{cohort}_series_matrix.txt.gz" in error and "series_matrix_table_end" in error
        assert not (tmp_path / "home" / "tables" / "core_geo_expression" / f"{cohort}.parquet").exists()


def test_release_without_level5_gets_it_derived_the_cmap_way(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    mirror = next((tiny_home.home / "mirror").glob("tiny-seed*"))
    suppl = Path("geo/series/GSE92nnn") / RELEASE / "suppl"
    (tmp_path / "mirror" / suppl).mkdir(parents=True)
    for f in (mirror / suppl).iterdir():
        if "_Level5_" not in f.name:
            shutil.copy(f, tmp_path / "mirror" / suppl / f.name)
    resources = build_resources(
        env={}, home=str(tmp_path / "home"), mode="remote", geo_base_url=(tmp_path / "mirror" / "geo").as_uri()
    )
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("lincs_release", [RELEASE])
        lincs = [
            "raw_lincs_files",
            "raw_lincs_level3",
            "core_lincs_genes",
            "core_lincs_signatures",
            "core_lincs_instances",
            "core_lincs_level3",
            "core_lincs_level5",
        ]
        _run(resources, lincs, RELEASE, instance)
    row = pd.read_parquet(tmp_path / "home" / "tables" / "core_lincs_level5" / f"{RELEASE}.parquet").iloc[0]
    assert row.derived
    shipped_row = tiny_home.table("core_lincs_level5", RELEASE).iloc[0]
    derived = read_gctx(Path(row.path), meta=False).data
    shipped = read_gctx(Path(shipped_row.path), meta=False).data
    assert derived.shape == shipped.shape
    derived = derived.loc[shipped.index, shipped.columns]
    np.testing.assert_allclose(derived.to_numpy(), shipped.to_numpy(), atol=1e-4)


@pytest.mark.parametrize("asset", ["core_tumor_normal_samples", "core_lincs_signatures", "core_inference_pairs"])
def test_tables_show_row_count_schema_and_preview(tiny_home: MaterializedHome, asset: str) -> None:
    partition = RELEASE if asset == "core_lincs_signatures" else None
    meta = tiny_home.metadata(asset, partition)
    assert meta["dagster/row_count"].value == len(tiny_home.table(asset, partition))
    assert meta["dagster/column_schema"].value.columns
    assert "|" in meta["preview"].value and meta["code_version"].value


# The paper profile's protocol (folds, grids, schemes, widths) with its sizes capped, as a user
# would cap them from the launchpad: the full epochs and 200/500-tree forests take hours on a CPU.
PAPER_CAPS = """
ops:
  model_expression_inference: {config: {max_epochs: 3}}
  model_csg2a_pretrained: {config: {network: {max_epochs: 3}}}
  model_csg2a_finetuned: {config: {network: {max_epochs: 3}}}
  model_indication_classifier: {config: {n_estimators: [20, 50]}}
  out_reduced_landmarks: {config: {model: {max_epochs: 3}}}
  out_pooled_landmark_discovery: {config: {m: 20, dnn: {max_epochs: 3}}}
"""


def test_paper_profile_trains_every_model_with_the_seeds_settings(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    """The seed-faithful profile (the one to use on a GPU) runs end to end, and says where the user departed from it."""
    home = tmp_path / "paper_home"
    shutil.copytree(tiny_home.home, home)
    (tmp_path / "caps.yaml").write_text(PAPER_CAPS)
    paper = MaterializedHome(home, home / "dagster", "")
    command = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(home), "--scale", "tiny", "materialize"]
    selection = "key:model_* or key:out_reduced_landmarks or key:out_pooled_landmark_discovery or key:out_indication_enrichment"
    command += ["--profile", "paper", "--select", selection, "--config", str(tmp_path / "caps.yaml")]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=paper.env(), capture_output=True, text=True, timeout=850)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "run profile paper" in done.stdout
    for manifest in sorted((home / "checkpoints").glob("model_*/*/manifest.json")):
        assert json.loads(manifest.read_text())["extra"]["profile"] == "paper", manifest
    assert paper.table("model_csg2a_finetuned", "drug_blind").fold.nunique() == 10  # seed 003: 10-fold CV
    ablations = {"csg2a_no_pretraining", "csg2a_no_ppi", "csg2a_unfrozen", "csg2a_plain"}
    assert set(paper.table("model_csg2a_finetuned", "mixed").model) >= ablations  # seed 003 Fig. 2: on the mixed set
    assert not set(paper.table("model_csg2a_finetuned", "drug_blind").model) & ablations
    gnn = paper.metadata("model_expression_inference", "gnn")["run_profile"].value
    assert gnn["profile"] == "paper" and (gnn["settings"]["gnn_hidden"], gnn["settings"]["gnn_layers"]) == (64, 4)
    assert [(o["setting"], o["paper"], o["used"]) for o in gnn["paper_overrides"]] == [("max_epochs", 200, 3)]
    lr_scores = json.loads(paper.table("model_expression_inference", "gnn").lr_scores.iloc[0])
    assert sorted(map(float, lr_scores)) == [1e-4, 5e-4, 1e-3]  # seed 002's learning-rate grid
    assert len(paper.table("model_indication_classifier")) == 5 + 1  # five outer folds and the pooled row
    forest = paper.metadata("model_indication_classifier")["run_profile"].value["paper_overrides"]
    assert [(o["setting"], o["used"]) for o in forest] == [("n_estimators", [20, 50])]
    table_3 = paper.table("out_reduced_landmarks")  # seed 002 Table 3 and S3–S4: three fractions, four models
    assert table_3.Model.tolist()[1:] == ["lr", "knn", "mlp", "gnn"] * 3 and table_3.n_landmarks[1:].nunique() == 3
    pooled = paper.metadata("out_pooled_landmark_discovery")  # seed 001: the tissues pooled, 80/20, the max/min rule
    assert pooled["split"].value == "80_20" and pooled["n_cells"].value["test"] == pooled["n_cells"].value["validation"]
    assert pooled["run_profile"].value["settings"]["ranking"] == "max_min"
    enrichment = paper.metadata("out_indication_enrichment")  # seed 000 ran Enrichr: a genome-wide background
    assert enrichment["background"].value == "library" and enrichment["background_genes"].value > len(
        paper.table("out_indication_genes")
    )


def test_a_config_naming_no_asset_is_refused_before_anything_runs(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    (tmp_path / "typo.yaml").write_text("ops:\n  model_csg2a_finetune: {config: {n_folds: 2}}\n")
    command = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(tiny_home.home), "--scale", "tiny", "materialize"]
    done = subprocess.run(
        [*command, "--config", str(tmp_path / "typo.yaml")], env=tiny_home.env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and "model_csg2a_finetune is not an asset" in done.stderr and "Traceback" not in done.stderr
