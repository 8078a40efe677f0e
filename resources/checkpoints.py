"""Model checkpoints with a manifest, so a loaded model is exactly the one that was trained.

A checkpoint is a folder ``<home>/checkpoints/<asset>/<partition>/`` holding the model files
and ``manifest.json`` (sha256 of every file, code version, upstream data versions, MLflow run
id). Nothing in it can run code on load: scikit-learn models are stored with ``skops.io``
and loaded with a fixed allow-list of types (a file naming any other type is refused), torch
models are state dicts loaded with ``weights_only=True``, arrays are ``.npy``/``.npz`` without
pickle. Manifest file names must be plain names inside the folder, so a manifest cannot point
a load at a file elsewhere.

What the sha256 manifest protects against: a file damaged, truncated or replaced on its own
(a bad disk, a half-copied folder, an edit by mistake), which is refused before anything is
read. What it does not: whoever can write the home can rewrite both a file and its manifest,
so the manifest is not a signature; that is why loading never unpickles anything.

A save assembles the new checkpoint beside the old one and swaps them with two renames
(old → ``.<name>.old``, new → ``<name>``); a crash between the renames is recovered on the next
load or save (the previous checkpoint restored, the stale folder removed).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from l1k_assets.errors import DataError
from l1k_assets.fileio import file_digest, temporary_folder
from resources.home import home_dir
from resources.parquet_io import UNPARTITIONED, safe_partition_key

MANIFEST = "manifest.json"
SKOPS_SUFFIX = ".skops"
# scikit-learn types skops does not trust by default that l1k's models are made of (calibrated forests)
TRUSTED_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
)


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


def plain_name(name: object, where: str) -> str:
    """A checkpoint file name: one path segment inside the folder (no separator, no ``..``, not hidden, not the manifest)."""
    ok = isinstance(name, str) and name.strip() == name and name not in ("", ".", "..", MANIFEST)
    if not ok or "/" in name or "\\" in name or "\x00" in name or name.startswith("."):  # type: ignore[operator]
        raise DataError(f"{where}: {name!r} is not a plain file name inside the checkpoint folder")
    return name  # type: ignore[return-value]


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
        """Write ``objects`` (name -> bytes, written as they are, or a scikit-learn object, stored with skops)
        and swap the folder in atomically.

        The new checkpoint is assembled in a sibling temporary folder and renamed over the old
        one, so a crash mid-save leaves the previous checkpoint loadable.
        """
        dest = self.directory(asset, partition)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _recover(dest)
        with temporary_folder(dest.parent, f".{dest.name}.") as staging:
            digests: dict[str, str] = {}
            for name, obj in objects.items():
                target = staging / plain_name(name, f"checkpoint {asset}/{partition}")
                target.write_bytes(obj if isinstance(obj, bytes) else _skops_bytes(name, obj))
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
            (staging / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))
            backup = _backup(dest)
            if dest.exists():
                dest.rename(backup)
            staging.rename(dest)
            shutil.rmtree(backup, ignore_errors=True)
            return manifest

    def manifest(self, asset: str, partition: str | None = None) -> CheckpointManifest:
        """Read and check a checkpoint's manifest: JSON of the known fields, plain file names, hex digests."""
        folder = self.directory(asset, partition)
        _recover(folder)
        path = folder / MANIFEST
        where = f"checkpoint {asset}/{partition or UNPARTITIONED} ({path})"
        if not path.exists():
            raise DataError(f"no checkpoint for {asset} partition {partition or UNPARTITIONED}: {path} is missing")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            manifest = CheckpointManifest(**record)
        except (ValueError, TypeError) as exc:
            known = [f.name for f in dataclasses.fields(CheckpointManifest)]
            raise DataError(f"{where}: not a manifest (JSON with the fields {known}): {exc}") from exc
        if not isinstance(manifest.files, dict):
            raise DataError(f"{where}: 'files' must map file names to sha256 digests")
        for name, digest in manifest.files.items():
            plain_name(name, where)
            if not isinstance(digest, str) or len(digest) != 64:
                raise DataError(f"{where}: file {name!r} has no sha256 digest (64 hex digits)")
        return manifest

    def verified_path(self, asset: str, partition: str | None, name: str) -> Path:
        """Path of one checkpoint file after its name was checked and its sha256 matched the manifest."""
        manifest = self.manifest(asset, partition)
        if name not in manifest.files:
            raise DataError(f"checkpoint {asset}/{partition} has no file {name!r}; it has {sorted(manifest.files)}")
        folder = self.directory(asset, partition)
        path = folder / plain_name(name, f"checkpoint {asset}/{partition}")
        if path.is_symlink() or not path.resolve().is_relative_to(folder.resolve()):
            raise DataError(f"{path}: a checkpoint file must be a regular file inside {folder}")
        digest = file_digest(path)
        if digest != manifest.files[name]:
            raise DataError(f"{path}: sha256 {digest} does not match the manifest's {manifest.files[name]}; refusing to load")
        return path

    def read_files(self, asset: str, partition: str | None, prefix: str = "") -> dict[str, bytes]:
        """Every verified file of a checkpoint whose name starts with ``prefix``, prefix removed (torch models' bytes)."""
        names = [n for n in self.manifest(asset, partition).files if n.startswith(prefix)]
        return {n[len(prefix) :]: self.verified_path(asset, partition, n).read_bytes() for n in names}

    def load(self, asset: str, partition: str | None, name: str) -> Any:
        """A verified scikit-learn object stored with skops; a type outside the allow-list is refused, never run."""
        import skops.io as sio

        data = self.verified_path(asset, partition, name).read_bytes()
        try:
            untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
        except (zipfile.BadZipFile, ValueError, KeyError) as exc:
            raise DataError(f"checkpoint {asset}/{partition} file {name!r} is not a skops archive: {exc}") from exc
        if untrusted:
            raise DataError(f"checkpoint {asset}/{partition} file {name!r} holds types l1k does not trust: {untrusted}")
        return sio.loads(data, trusted=list(TRUSTED_TYPES))


def _skops_bytes(name: str, obj: object) -> bytes:
    """A scikit-learn object as skops bytes; the name must say so (``*.skops``)."""
    if not name.endswith(SKOPS_SUFFIX):
        raise DataError(
            f"checkpoint file {name!r}: objects are stored with skops under a '{SKOPS_SUFFIX}' name; pass bytes otherwise"
        )
    import skops.io as sio

    return sio.dumps(obj)


def _backup(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.old")


def _recover(dest: Path) -> None:
    """Finish a save a crash interrupted: put the previous checkpoint back, or drop the old copy the save left."""
    backup = _backup(dest)
    if not backup.exists():
        return
    if dest.exists():
        shutil.rmtree(backup)
    else:
        backup.rename(dest)
