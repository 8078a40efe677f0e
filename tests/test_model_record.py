"""The one recording path of trained models: checkpoint, MLflow and asset page from a protocol's ModelRecord."""

import json
import logging
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from l1k_assets.asset_utils import record_model, training_run
from l1k_assets.model_record import ModelRecord
from resources.checkpoints import CheckpointStore
from resources.profile import RunProfile
from resources.tracking import MlflowTracking


class Settings(dg.Config):
    """A protocol's settings: ``alpha`` also comes back as a fact, which must not be logged twice."""

    alpha: float = 0.5


class Fitted:
    """A protocol's typed result, as the domain returns one."""

    def record(self) -> ModelRecord:
        return ModelRecord(
            output=pd.DataFrame({"fold": ["0", "1"], "rmse": [0.25, 0.75]}),
            files={"weights.bin": b"\x00\x01", "params.json": b"{}"},
            metrics={"rmse": 0.5, "unestimable": float("nan")},
            manifest={"genes": ["g1", "g2"]},
            facts={"n_pairs": 40, "alpha": 0.5, "kept": ["g1"]},
            tables={"per_fold": pd.DataFrame({"rmse": [0.25, 0.75]})},
            plots={"curve": b"\x89PNG\r\n"},
            curves=[{"step": 0, "val_loss": 2.0}, {"step": 1, "val_loss": 1.0}],
            stopped_by_budget=True,
            warnings=["2 inputs were constant"],
        )


@dg.asset(code_version="7", partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
def model_toy(
    context: dg.AssetExecutionContext,
    config: Settings,
    checkpoints: CheckpointStore,
    mlflow: MlflowTracking,
    profile: RunProfile,
) -> pd.DataFrame:
    config = profile.apply(config)
    with training_run(context, mlflow, profile, config) as run:
        return record_model(context, run, checkpoints, profile, config, Fitted()).output


INSTANCE = dg.DagsterInstance.ephemeral()


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[dg.ExecuteInProcessResult, Path]:
    resources = {
        "checkpoints": CheckpointStore(home=str(tmp_path)),
        "mlflow": MlflowTracking(home=str(tmp_path)),
        "profile": RunProfile(name="demo", budget_scale=2.0),
    }
    return dg.materialize([model_toy], resources=resources, partition_key="b", instance=INSTANCE), tmp_path


def test_the_checkpoint_takes_key_partition_and_code_version_from_the_asset(recorded) -> None:
    result, home = recorded
    manifest = json.loads((home / "checkpoints" / "model_toy" / "b" / "manifest.json").read_text())
    assert manifest["asset"] == "model_toy" and manifest["partition"] == "b" and manifest["code_version"] == "7"
    assert set(manifest["files"]) == {"weights.bin", "params.json"} and manifest["extra"]["genes"] == ["g1", "g2"]
    run_profile = manifest["extra"]["run_profile"]
    assert run_profile == {
        "profile": "demo",
        "budget_scale": 2.0,
        "settings": {"alpha": 0.5},
        "stopped_by_budget": True,
        "paper_overrides": [],
    }
    assert result.output_for_node("model_toy").rmse.tolist() == [0.25, 0.75]


def test_mlflow_and_the_page_get_the_same_numbers(recorded) -> None:
    result, home = recorded
    meta = result.asset_materializations_for_node("model_toy")[0].metadata
    assert meta["rmse"].value == 0.5 and np.isnan(meta["unestimable"].value) and meta["n_pairs"].value == 40
    assert meta["run_profile"].value["stopped_by_budget"] is True and meta["stopped_by_budget"].value is True
    assert "data:image/png;base64," in meta["curve_plot"].value and "0.75" in meta["per_fold"].value
    assert meta["registered_model"].value == "l1k.model_toy.b v1"
    assert set(meta["checkpoint_sha256"].value) == {"weights.bin", "params.json"}
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    run = client.get_run(meta["mlflow_run_id"].value)
    assert run.data.metrics["rmse"] == 0.5 and "unestimable" not in run.data.metrics  # NaN stays on the page
    assert [m.value for m in client.get_metric_history(run.info.run_id, "val_loss")] == [2.0, 1.0]
    assert run.data.params["n_pairs"] == "40" and run.data.params["alpha"] == "0.5" and run.data.params["profile"] == "demo"
    artifacts = {a.path for folder in ("plots", "tables", "json") for a in client.list_artifacts(run.info.run_id, folder)}
    assert {"plots/curve.png", "tables/per_fold.csv", "json/facts.json"} <= artifacts
    versions = client.search_model_versions("name='l1k.model_toy.b'")
    assert [v.tags["dagster.asset_key"] for v in versions] == ["model_toy[b]"]


def test_warnings_reach_the_run_log(recorded) -> None:
    result, _ = recorded
    logged = [(e.level, e.user_message) for e in INSTANCE.all_logs(result.run_id)]
    assert (logging.WARNING, "2 inputs were constant") in logged
