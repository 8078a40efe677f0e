"""Model checkpoints with a manifest, so a loaded model is exactly the one that was trained.

A checkpoint is a folder ``<home>/checkpoints/<asset>/<partition>/`` holding the model files
and ``manifest.json`` (sha256 of every file, code version, upstream data versions, MLflow run
id). Files are verified against the manifest before loading; pickles are never unpickled
unless their digest matches, and torch state dicts load with ``weights_only=True``.
"""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from l1k_assets.errors import DataError
from l1k_assets.fileio import file_digest
from resources.home import home_dir
from resources.parquet_io import UNPARTITIONED, safe_partition_key


@dataclass
class CheckpointManifest:
    """What a checkpoint is and where it came from."""

    asset: str
    partition: str
    files: dict[str, str]  # file name -> sha256
    code_version: str = ""
    upstream_versions: dict[str, str] = field(default_factory=dict)
    mlflow_run_id: str = ""
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class CheckpointStore(dg.ConfigurableResource):
    """Writes and verifies model checkpoints under the l1k home."""

    home: str = ""

    def directory(self, asset: str, partition: str | None = None) -> Path:
        """The checkpoint folder of one asset partition."""
        name = safe_partition_key(partition) if partition else UNPARTITIONED
        return home_dir(self.home) / "checkpoints" / safe_partition_key(asset) / name

    def save(
        self,
        asset: str,
        partition: str | None,
        objects: dict[str, Any],
        *,
        code_version: str = "",
        upstream_versions: dict[str, str] | None = None,
        mlflow_run_id: str = "",
        extra: dict[str, Any] | None = None,
    ) -> CheckpointManifest:
        """Serialize ``objects`` (name -> object; bytes are written as is) and swap the folder in atomically.

        The new checkpoint is assembled in a sibling temporary folder and renamed over the old
        one, so a crash mid-save leaves the previous checkpoint loadable.
        """
        dest = self.directory(asset, partition)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            digests: dict[str, str] = {}
            for name, obj in objects.items():
                target = staging / safe_partition_key(name)
                if isinstance(obj, bytes):
                    target.write_bytes(obj)
                else:
                    with open(target, "wb") as fh:
                        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
                digests[name] = file_digest(target)
            manifest = CheckpointManifest(
                asset=asset,
                partition=partition or UNPARTITIONED,
                files=digests,
                code_version=code_version,
                upstream_versions=dict(upstream_versions or {}),
                mlflow_run_id=mlflow_run_id,
                created_at=datetime.now(UTC).isoformat(),
                extra=dict(extra or {}),
            )
            (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))
            backup = dest.with_name(f".{dest.name}.old")
            if dest.exists():
                dest.rename(backup)
            staging.rename(dest)
            shutil.rmtree(backup, ignore_errors=True)
            return manifest
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def manifest(self, asset: str, partition: str | None = None) -> CheckpointManifest:
        """Read a checkpoint's manifest."""
        path = self.directory(asset, partition) / "manifest.json"
        if not path.exists():
            raise DataError(f"no checkpoint for {asset} partition {partition or UNPARTITIONED}: {path} is missing")
        return CheckpointManifest(**json.loads(path.read_text()))

    def verified_path(self, asset: str, partition: str | None, name: str) -> Path:
        """Path of one checkpoint file after its sha256 matched the manifest."""
        manifest = self.manifest(asset, partition)
        if name not in manifest.files:
            raise DataError(f"checkpoint {asset}/{partition} has no file {name!r}; it has {sorted(manifest.files)}")
        path = self.directory(asset, partition) / name
        digest = file_digest(path)
        if digest != manifest.files[name]:
            raise DataError(f"{path}: sha256 {digest} does not match the manifest's {manifest.files[name]}; refusing to load")
        return path

    def read_files(self, asset: str, partition: str | None, prefix: str = "") -> dict[str, bytes]:
        """Every verified file of a checkpoint whose name starts with ``prefix``, prefix removed (torch models' bytes)."""
        names = [n for n in self.manifest(asset, partition).files if n.startswith(prefix)]
        return {n[len(prefix) :]: self.verified_path(asset, partition, n).read_bytes() for n in names}

    def load(self, asset: str, partition: str | None, name: str) -> Any:
        """Unpickle one verified checkpoint file."""
        with open(self.verified_path(asset, partition, name), "rb") as fh:
            return pickle.load(fh)
