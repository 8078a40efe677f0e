"""Metadata helpers shared by the thin ``assets.py`` modules (the only Dagster-aware domain code)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.model_record import ModelRecord, Recordable
from l1k_assets.progress import PROGRESS_PREFIX, ProgressReport, Sink

if TYPE_CHECKING:
    from pydantic import BaseModel

    from resources.checkpoints import CheckpointManifest, CheckpointStore
    from resources.compute import ComputeResource
    from resources.profile import RunProfile
    from resources.tracking import MlflowTracking, TrackedRun


def files_metadata(files: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Source URLs and sha256 of every raw file (keyed ``role`` or ``role:part``), so lineage reaches the exact bytes
    fetched, with how each was verified and proven complete; files nothing proves complete are listed as unverified."""
    keys = [f"{r.role}:{r.part}" if getattr(r, "part", "") else r.role for r in files.itertuples()]
    shown = files[[c for c in ("role", "part", "name", "sha256", "size", "checksum_verified", "completeness") if c in files]]
    unverified = files.name[files.completeness == "unverified"].tolist() if "completeness" in files else []
    return {
        "source_urls": dg.MetadataValue.json(dict(zip(keys, files.url, strict=True))),
        "source_sha256": dg.MetadataValue.json(dict(zip(keys, files.sha256, strict=True))),
        "files": dg.MetadataValue.md(shown.to_markdown(index=False)),
        "total_bytes": dg.MetadataValue.int(int(files["size"].sum())),
        "unverified_downloads": dg.MetadataValue.json(unverified),
    }


def record_files(context: dg.AssetExecutionContext, files: pd.DataFrame, **facts: Any) -> pd.DataFrame:
    """The one way a raw asset records what it fetched: every file's URL, sha256 and proof on the page, plus ``facts``."""
    context.add_output_metadata({**files_metadata(files), **json_metadata(**facts)})
    return files


def json_metadata(**values: Any) -> dict[str, dg.MetadataValue]:
    """Plain values as metadata: numbers stay numbers (so the UI can plot them), the rest JSON."""
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            out[key] = dg.MetadataValue.float(value)
        elif isinstance(value, str):
            out[key] = dg.MetadataValue.text(value)
        else:
            out[key] = dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))
    return out


def file_path(files: pd.DataFrame, role: str) -> str:
    """Local path of the file playing ``role`` in a raw file table."""
    hits = files.loc[files.role == role, "path"]
    if hits.empty:
        raise DataError(f"raw file table has no {role!r} file; it has roles {sorted(files.role)}")
    return str(hits.iloc[0])


def markdown_table(rows: Mapping[str, Mapping[str, Any]] | pd.DataFrame) -> dg.MetadataValue:
    """A small table shown as Markdown on the asset page (a default RangeIndex is left out)."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows).T
    plain_index = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    return dg.MetadataValue.md(frame.to_markdown(index=not plain_index, floatfmt=".4g"))


def image_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG shown inline on the asset page (Markdown with a data URI)."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def check_result(name: str, verdict: Any, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    """A check result from a quality ``Verdict``: ERROR by default (blocking when the spec is), WARN to inform only."""
    return dg.AssetCheckResult(
        check_name=name,
        passed=verdict.passed,
        severity=severity,
        metadata=json_metadata(**verdict.details),
    )


def blocking(asset: str, *names: str) -> list[dg.AssetCheckSpec]:
    """Blocking check specs: a failure stops everything downstream of the asset in the run."""
    return [dg.AssetCheckSpec(name, asset=asset, blocking=True) for name in names]


def progress_sink(context: dg.AssetExecutionContext, run: TrackedRun | None = None) -> Sink:
    """Where an asset's long loops report: the Dagster log (so the UI and ``l1k materialize`` show it) and MLflow.

    ``run`` is the asset's open MLflow run (``TrackedRun``); each report's values are logged
    there at the report's step under ``progress/<label>/<name>`` as they happen, not at the end.
    """

    def sink(report: ProgressReport) -> None:
        context.log.info(PROGRESS_PREFIX + report.message())
        if run is not None and report.values:
            key = report.label.replace(" · ", "/").replace(" ", "_")
            run.log_metrics({f"progress/{key}/{k}": v for k, v in report.values.items()}, step=report.step)
            run.log_metrics({"progress/elapsed_seconds": report.elapsed}, step=report.step)

    return sink


def run_profile(profile: RunProfile, settings: BaseModel, stopped_by_budget: bool = False) -> dict[str, Any]:
    """The one record of how a run was sized: profile, budget scale, the settings used, whether a budget cut it.

    Under ``paper``, every paper setting the user overrode is listed (and logged as a warning),
    so a run that departs from the paper is never taken for the paper's.
    """
    overrides = profile.overrides(settings)
    for o in overrides:
        dg.get_dagster_logger().warning(
            f"paper setting overridden: {o['setting']} = {o['used']!r} (paper: {o['paper']!r}, {o['source']})"
        )
    return profile.describe() | {
        "settings": settings.model_dump(),
        "stopped_by_budget": bool(stopped_by_budget),
        "paper_overrides": overrides,
    }


@contextlib.contextmanager
def training_run(
    context: dg.AssetExecutionContext,
    mlflow: MlflowTracking,
    profile: RunProfile,
    settings: BaseModel,
    compute: ComputeResource | None = None,
    **tags: str,
) -> Iterator[TrackedRun]:
    """The MLflow run of one training asset, opened with the settings, run profile and device as parameters."""
    with mlflow.start_run(context, **tags) as run:
        device = compute.describe() if compute is not None else {}
        run.log_params(settings.model_dump() | profile.describe() | device | tags)
        yield run


def record_model(
    context: dg.AssetExecutionContext,
    run: TrackedRun,
    checkpoints: CheckpointStore,
    profile: RunProfile,
    settings: BaseModel,
    result: Recordable,
) -> ModelRecord:
    """The one way a trained model is recorded: checkpoint, MLflow and asset page from the protocol's result.

    The checkpoint is keyed by the asset (and partition) and carries the asset's code version,
    the MLflow run and the run profile with the settings used and whether a budget stopped
    training; the MLflow run gets the metrics, curves, tables, plots and a registered model
    version; the page gets the same numbers, tables and plots with links to both. Returns the
    record, whose ``output`` the asset returns.
    """
    record = result.record()
    for warning in record.warnings:
        context.log.warning(warning)
    asset = context.asset_key.to_user_string()
    partition = context.partition_key if context.has_partition_key else None
    sized = run_profile(profile, settings, record.stopped_by_budget)
    for curve in record.curves:
        run.log_metrics({k: v for k, v in curve.items() if k != "step"}, step=int(curve["step"]))
    run.log_metrics(record.finite_metrics() | {"stopped_by_budget": float(record.stopped_by_budget)})
    run.log_params({k: v for k, v in record.scalar_facts().items() if k not in sized["settings"]})  # params are write-once
    run.log_json("facts", record.facts)
    for name, table in record.tables.items():
        run.log_table(name, table)
    for name, png in record.plots.items():
        run.log_artifact_bytes(f"{name}.png", png, "plots")
    manifest: CheckpointManifest = checkpoints.save(
        asset,
        partition,
        record.files,
        code_version=context.assets_def.code_versions_by_key.get(context.asset_key) or "",
        mlflow_run_id=run.run_id,
        extra={**record.manifest, **profile.describe(), "run_profile": sized},
    )
    registered = f"l1k.{asset}" + (f".{partition}" if partition else "")
    shown = f"{asset}[{partition}]" if partition else asset
    version = run.register_model(registered, checkpoints.directory(asset, partition), shown)
    output = context.assets_def.get_output_name_for_asset_key(context.asset_key)  # an asset with checks has several
    context.add_output_metadata(
        output_name=output,
        metadata=json_metadata(**(record.metrics | record.facts))
        | json_metadata(run_profile=sized, stopped_by_budget=record.stopped_by_budget)
        | json_metadata(registered_model=f"{registered} v{version}")
        | {name: markdown_table(table) for name, table in record.tables.items()}
        | {f"{name}_plot": image_metadata(png, name) for name, png in record.plots.items()}
        | {
            "checkpoint_sha256": dg.MetadataValue.json(manifest.files),
            "checkpoint": dg.MetadataValue.path(str(checkpoints.directory(asset, partition))),
        }
        | run.metadata(),
    )
    return record
