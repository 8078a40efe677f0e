"""MLflow tracking as a small ConfigurableResource around the MLflow client.

dagster-mlflow's resource is an old-style beta resource whose hook ends runs early, so l1k
talks to ``MlflowClient`` directly: one MLflow run per asset materialization (per partition),
tagged with the Dagster run id, asset key and partition, and linked from the asset metadata.
The store is SQLite under the l1k home unless a server URL is configured (Docker).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from resources.home import home_dir


@dataclass
class TrackedRun:
    """An open MLflow run: log parameters, metrics, figures and tables to it."""

    client: Any
    run_id: str
    experiment_id: str
    ui_url: str
    dagster_run_id: str = ""

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in metrics.items() if v == v]
        for start in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[start : start + 500])

    def log_artifact_bytes(self, name: str, data: bytes, folder: str = "") -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            self.client.log_artifact(self.run_id, str(path), folder or None)

    def log_table(self, name: str, table: pd.DataFrame) -> None:
        self.log_artifact_bytes(f"{name}.csv", table.to_csv().encode(), "tables")

    def log_json(self, name: str, value: Any) -> None:
        self.log_artifact_bytes(f"{name}.json", json.dumps(value, indent=1, default=str).encode(), "json")

    def register_model(self, name: str, checkpoint_dir: Path, asset_key: str) -> str:
        """Log a checkpoint folder (files + sha256 manifest) and register it as a new model version.

        The registered model carries the asset key, so the registry and the asset graph point
        at each other. Returns the version number.
        """
        from mlflow.exceptions import MlflowException

        self.client.log_artifacts(self.run_id, str(checkpoint_dir), "checkpoint")
        try:
            self.client.create_registered_model(name, tags={"dagster.asset_key": asset_key})
        except MlflowException as exc:
            if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
                raise
        source = f"{self.client.get_run(self.run_id).info.artifact_uri}/checkpoint"
        version = self.client.create_model_version(
            name, source, run_id=self.run_id, tags={"dagster.asset_key": asset_key, "dagster.run_id": self.dagster_run_id}
        )
        return str(version.version)

    @property
    def url(self) -> str:
        """Link to the run in the MLflow UI."""
        return f"{self.ui_url.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def metadata(self) -> dict[str, dg.MetadataValue]:
        """What the asset page shows to get from a materialization to its MLflow run."""
        return {"mlflow_run_id": dg.MetadataValue.text(self.run_id), "mlflow_run_url": dg.MetadataValue.url(self.url)}


class MlflowTracking(dg.ConfigurableResource):
    """Where MLflow runs go: SQLite under the l1k home by default, or a tracking server."""

    home: str = Field("", description="l1k home (default $L1K_HOME or ./.l1k_home)")
    tracking_uri: str = Field("", description="MLflow tracking URI; empty = sqlite:///<home>/mlflow/mlflow.db")
    experiment: str = "l1k"
    ui_url: str = Field("http://127.0.0.1:5000", description="MLflow UI base URL used in links")

    def resolved_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        folder = home_dir(self.home) / "mlflow"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'mlflow.db'}"

    def _experiment_id(self, client: Any) -> str:
        from mlflow.exceptions import MlflowException

        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = None if self.tracking_uri else (home_dir(self.home) / "mlflow" / "artifacts").as_uri()
        try:
            return client.create_experiment(self.experiment, artifact_location=location)
        except MlflowException:  # another process created it between the two calls
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    def prepare(self) -> str:
        """Create the tracking store (schema migrations, on SQLite) and the experiment; returns its id.

        Called once before runs start side by side, so that two first trainings do not both
        migrate a new SQLite store at the same moment.
        """
        from mlflow.tracking import MlflowClient

        quiet = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]  # "Creating tables..."
        levels = [logger.level for logger in quiet]
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        try:
            return self._experiment_id(MlflowClient(tracking_uri=self.resolved_uri()))
        finally:
            for logger, level in zip(quiet, levels, strict=True):
                logger.setLevel(level)

    @contextlib.contextmanager
    def start_run(self, context: dg.AssetExecutionContext, **tags: str) -> Iterator[TrackedRun]:
        """One MLflow run for this asset materialization; marked FAILED if the block raises."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.resolved_uri())
        experiment_id = self._experiment_id(client)
        asset = context.asset_key.to_user_string()
        partition = context.partition_key if context.has_partition_key else ""
        all_tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset_key": asset,
            "dagster.partition": partition,
            "dagster.code_version": context.assets_def.code_versions_by_key.get(context.asset_key) or "",
            **tags,
        }
        run = client.create_run(experiment_id, tags=all_tags, run_name=f"{asset}[{partition}]" if partition else asset)
        tracked = TrackedRun(client, run.info.run_id, experiment_id, self.ui_url, context.run.run_id)
        try:
            yield tracked
        except BaseException:
            client.set_terminated(run.info.run_id, "FAILED")
            raise
        client.set_terminated(run.info.run_id, "FINISHED")
