"""Metadata helpers shared by the thin ``assets.py`` modules (the only Dagster-aware domain code)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.progress import PROGRESS_PREFIX, ProgressReport, Sink

if TYPE_CHECKING:
    from resources.tracking import TrackedRun


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
    """A small table shown as Markdown on the asset page."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows).T
    return dg.MetadataValue.md(frame.to_markdown())


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
