"""Operations: the release sensor, automation, lineage, blocking checks, and crash safety."""

import gzip
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import dagster as dg
import pandas as pd
import pytest

from l1k_assets.fileio import file_digest
from l1k_assets.geo.catalog import load_catalog
from l1k_jobs.automation import lincs_release_sensor
from l1k_jobs.definitions import ALL_ASSETS, defs
from l1k_jobs.lineage import raw_files, to_json, trace
from l1k_jobs.resources_config import build_resources
from tests.conftest import PROJECT_ROOT, MaterializedHome
from tests.httpserver import serve_directory

RELEASE = "GSE92742"


def _publish(root: Path, release: str, files: dict[str, bytes]) -> None:
    folder = root / "geo" / "series" / f"{release[:-3]}nnn" / release / "suppl"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    sums = "".join(f"{hashlib.sha512(d).hexdigest()}  {n}\n" for n, d in files.items())
    (folder / f"{release}_SHA512SUMS.txt.gz").write_bytes(gzip.compress(sums.encode(), mtime=0))


def _tick(instance: dg.DagsterInstance, data_source, cursor: str | None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"data_source": data_source})
    result = lincs_release_sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result.run_requests, result.cursor
    return [], cursor


def test_release_sensor_adds_each_release_once_and_reruns_reissued_ones(tmp_path: Path) -> None:
    root = tmp_path / "server"
    root.mkdir()
    _publish(root, "GSE92742", {"GSE92742_Broad_LINCS_gene_info.txt.gz": b"v1"})
    with serve_directory(root) as server, dg.DagsterInstance.ephemeral() as instance:
        source = build_resources(
            env={},
            home=str(tmp_path / "home"),
            mode="remote",
            geo_base_url=f"{server.url}/geo",
            lincs2020_base_url="http://127.0.0.1:9/macchiato.clue.io/builds/LINCS2020",  # nothing listens there
            retries=0,
        )["data_source"]
        requested: list[tuple[str, str]] = []
        cursor = None
        for step in range(5):
            if step == 2:
                _publish(root, "GSE70138", {"GSE70138_Broad_LINCS_gene_info.txt.gz": b"phase2"})
            if step == 4:
                _publish(root, "GSE92742", {"GSE92742_Broad_LINCS_gene_info.txt.gz": b"v2, re-issued"})
            runs, cursor = _tick(instance, source, cursor)
            requested.extend((r.partition_key, r.run_key) for r in runs)
        assert [p for p, _ in requested] == ["GSE92742", "GSE70138", "GSE92742"]
        assert len({k for _, k in requested}) == 3, "a run key was requested twice"
        assert sorted(instance.get_dynamic_partitions("lincs_release")) == ["GSE70138", "GSE92742"]
        # CLUE's bucket (LINCS 2020, watched by default) is out of reach here: GEO's releases still came through
        assert set(source.published_releases().unreachable) == {"clue"}

        # The source goes away: the tick is skipped, the cursor kept, and the next tick carries on.
        server.fail("/geo/series/GSE92nnn/GSE92742/suppl/", 503, times=1)
        runs, kept = _tick(instance, source, cursor)
        assert runs == [] and kept == cursor
        runs, after = _tick(instance, source, cursor)
        assert runs == [] and after == cursor


def test_release_sensor_registers_the_embedded_release(tmp_path: Path) -> None:
    source = build_resources(env={}, home=str(tmp_path), scale="tiny")["data_source"]
    with dg.DagsterInstance.ephemeral() as instance:
        runs, cursor = _tick(instance, source, None)
        assert [r.partition_key for r in runs] == [RELEASE, "LINCS2020"]
        assert json.loads(cursor).keys() == {RELEASE, "LINCS2020"}
        assert _tick(instance, source, cursor)[0] == []


def _passed(instance: dg.DagsterInstance, check: dg.AssetCheckKey) -> None:
    evaluation = dg.AssetCheckEvaluation(asset_key=check.asset_key, check_name=check.name, passed=True)
    instance.report_runless_asset_event(evaluation)


def test_scores_refresh_when_the_model_changes() -> None:
    graph = defs.resolve_asset_graph()
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("lincs_release", [RELEASE])
        for key in graph.get_all_asset_keys():
            pdef = graph.get(key).partitions_def
            keys = [None] if pdef is None else list(pdef.get_partition_keys(dynamic_partitions_store=instance))
            for partition in keys:
                instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
        for check in graph.asset_check_keys:
            _passed(instance, check)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0, "nothing changed, nothing should run"
        instance.report_runless_asset_event(dg.AssetMaterialization("model_indication_classifier"))
        _passed(instance, dg.AssetCheckKey(dg.AssetKey("model_indication_classifier"), "balanced_accuracy_floor"))
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        requested = {key.to_user_string() for key in graph.get_all_asset_keys() if second.get_num_requested(key) > 0}
        assert "out_signature_class_probabilities" in requested
        assert "out_connectivity_scores" not in requested  # it does not use the classifier


@pytest.mark.parametrize("release", [RELEASE, "LINCS2020"])
def test_lineage_reaches_every_raw_file_with_matching_checksums(tiny_home: MaterializedHome, release: str) -> None:
    with tiny_home.instance() as instance:
        root = trace(defs.resolve_asset_graph(), instance, "out_compound_scores", release)
    assets = [n.asset for n in root.walk()]
    cohorts = {n.partition for n in root.walk() if n.asset == "raw_geo_series_matrix"}
    assert len(cohorts) == len(load_catalog()) and {"raw_lincs_files", "raw_lincs_gene_info", "raw_compounds"} <= set(assets)
    model = next(n for n in root.walk() if n.asset == "model_indication_classifier")
    assert model.audit["mlflow_run_id"] and model.audit["checkpoint_sha256"]
    files = raw_files(root)
    assert len(files) >= len(load_catalog()) * 2 + 8
    for node in root.walk():
        if not node.asset.startswith("raw_"):
            continue
        table = tiny_home.table(node.asset, node.partition)
        for row in table.itertuples():
            # The recorded digest is of the bytes fetched (the compressed file at the URL); per-type files by role:part.
            key = f"{row.role}:{row.part}" if getattr(row, "part", "") else row.role
            assert node.audit["source_sha256"][key] == row.sha256 == file_digest(unquote(row.url.removeprefix("file://")))
    assert to_json(root)["nodes"][0]["asset"] == "out_compound_scores"


def test_lineage_report_asset_and_cli(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_lineage_report", RELEASE)
    assert set(table.scores) == {"out_compound_scores", "out_connectivity_scores"}
    report = tiny_home.home / "reports" / "lineage" / f"out_compound_scores__{RELEASE}.md"
    assert "raw_geo_series_matrix[GSE15852]" in report.read_text()
    saved = json.loads(report.with_suffix(".json").read_text())
    assert saved["asset"] == "out_compound_scores" and saved["partition"] == RELEASE
    env = {"PATH": str(Path(sys.executable).parent), "DAGSTER_HOME": str(tiny_home.dagster_home)}
    command = [
        sys.executable,
        "-m",
        "l1k_jobs.cli",
        "--home",
        str(tiny_home.home),
        "lineage",
        "out_compound_scores",
        "--partition",
        RELEASE,
    ]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "raw_lincs_files[GSE92742]" in done.stdout and "sha256" in done.stdout
    missing = subprocess.run([*command[:-1], "GSE1"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "never been materialized" in missing.stderr


def test_blocking_checks_passed_in_the_main_run(tiny_home: MaterializedHome) -> None:
    with tiny_home.instance() as instance:
        for asset, check in [
            ("core_tumor_normal_deltas", "no_missing_values"),
            ("core_tumor_normal_deltas", "class_counts"),
            ("model_indication_classifier", "balanced_accuracy_floor"),
            ("out_signature_class_probabilities", "probability_rows"),
        ]:
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
                [dg.AssetCheckKey(dg.AssetKey(asset), check)]
            )
            execution = record[dg.AssetCheckKey(dg.AssetKey(asset), check)]
            assert execution.status.value == "SUCCEEDED", (asset, check, execution.status)


def test_failing_blocking_check_stops_the_model(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tiny_home.home / "tables" / "core_tumor_normal_samples"
    shutil.copytree(source, home / "tables" / "core_tumor_normal_samples")
    resources = build_resources(env={}, home=str(home), scale="tiny")
    config = {"ops": {"core_tumor_normal_deltas": {"config": {"min_pairs_per_type": 1000}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            ALL_ASSETS,
            selection=["core_tumor_normal_deltas", "model_indication_classifier"],
            resources=resources,
            instance=instance,
            run_config=config,
            raise_on_error=False,
        )
        assert not result.success
        assert instance.get_latest_materialization_event(dg.AssetKey("model_indication_classifier")) is None
        evaluation = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        failed = {e.event_specific_data.check_name for e in evaluation if not e.event_specific_data.passed}
        assert failed == {"class_counts"}


WRITER = """
import sys, time
import dagster as dg, numpy as np, pandas as pd
from resources.parquet_io import ParquetIOManager
parts = dg.StaticPartitionsDefinition(["a", "b"])
@dg.asset(partitions_def=parts)
def big(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(int(sys.argv[3])).random((int(sys.argv[4]), 50)))
dg.materialize([big], partition_key=sys.argv[2], resources={"io_manager": ParquetIOManager(home=sys.argv[1])})
print("done", flush=True)
"""


def _writer(home: Path, partition: str, seed: int, rows: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), partition, str(seed), str(rows)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_run_killed_mid_write_leaves_the_previous_table_and_a_rerun_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "tables" / "big" / "a.parquet"
    assert _writer(tmp_path, "a", 1, 1000).wait(timeout=120) == 0
    before = pd.read_parquet(target)
    victim = _writer(tmp_path, "a", 2, 3_000_000)
    deadline = time.time() + 120
    while time.time() < deadline and not list(target.parent.glob(".a.parquet.*")):
        time.sleep(0.01)
    assert list(target.parent.glob(".a.parquet.*")), "the writer never started writing"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    pd.testing.assert_frame_equal(pd.read_parquet(target), before)
    assert _writer(tmp_path, "a", 3, 1000).wait(timeout=120) == 0
    assert not pd.read_parquet(target).equals(before)


def test_concurrent_runs_on_different_partitions_corrupt_nothing(tmp_path: Path) -> None:
    writers = [_writer(tmp_path, p, seed, 200_000) for p, seed in (("a", 5), ("b", 6))]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    for partition, seed in (("a", 5), ("b", 6)):
        expected = pd.DataFrame(__import__("numpy").random.default_rng(seed).random((200_000, 50)))
        table = pd.read_parquet(tmp_path / "tables" / "big" / f"{partition}.parquet")
        table.columns = expected.columns
        pd.testing.assert_frame_equal(table, expected)


@pytest.mark.parametrize("bad", ["../../etc", "GSE1/../x", "a b"])
def test_partition_keys_and_cohort_ids_cannot_escape_the_home(bad: str) -> None:
    from l1k_assets.lincs.releases import geo_releases
    from resources.parquet_io import safe_partition_key

    with pytest.raises(ValueError):
        safe_partition_key(bad)
    with pytest.raises(ValueError):
        geo_releases("https://example.invalid/geo", [bad], downloader=None)
