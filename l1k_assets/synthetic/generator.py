"""Generate the embedded default mirror: every source in its real format and server layout.

The mirror is generated once per (scale, seed) into a temporary folder and renamed into
place, with ``manifest.json`` (the planted truth and the sha256 of every file) written last,
so a mirror folder that exists is complete. A file lock lets concurrent run workers share it.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path
from typing import Any

from l1k_assets.fileio import atomic_write_text, file_digest, temporary_folder
from l1k_assets.geo.catalog import DEFAULT_CATALOG, load_catalog
from l1k_assets.synthetic.clue_writer import BUILD, write_lincs2020
from l1k_assets.synthetic.genesets import write_gene_sets
from l1k_assets.synthetic.geo_writer import write_geo_cohorts
from l1k_assets.synthetic.inference_writer import write_inference_pairs
from l1k_assets.synthetic.lincs_writer import write_lincs_release
from l1k_assets.synthetic.response_writer import write_response_sources
from l1k_assets.synthetic.singlecell_writer import write_singlecell
from l1k_assets.synthetic.universe import build_universe

MANIFEST = "manifest.json"
EMBEDDED_RELEASE = "GSE92742"


def generate_universe(root: Path, scale: str = "tiny", seed: int = 0, catalog_path: Path = DEFAULT_CATALOG) -> dict[str, Any]:
    """Write every synthetic source under ``root`` and return the manifest (truth + file digests)."""
    universe = build_universe(scale, seed)
    catalog = load_catalog(catalog_path)
    truth: dict[str, Any] = {"universe": universe.truth}
    truth["geo"] = write_geo_cohorts(universe, root, catalog)
    truth["genesets"] = write_gene_sets(universe, root)
    truth["lincs"] = write_lincs_release(universe, root, release=EMBEDDED_RELEASE)
    truth["lincs2020"] = write_lincs2020(universe, root)
    truth["inference"] = write_inference_pairs(universe, root)
    truth["response"] = write_response_sources(universe, root)
    truth["singlecell"] = write_singlecell(universe, root)
    files = {str(p.relative_to(root)): file_digest(p) for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}
    manifest = {"scale": scale, "seed": seed, "releases": [EMBEDDED_RELEASE, BUILD], "files": files, "truth": truth}
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, default=_jsonable))
    return manifest


def _jsonable(obj: Any) -> Any:
    """numpy scalars and arrays in the truth become plain JSON."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} into the mirror manifest")


def ensure_mirror(root: Path, scale: str = "tiny", seed: int = 0) -> dict[str, Any]:
    """Return the mirror's manifest, generating the mirror first if it is not complete yet."""
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / MANIFEST).exists():
            return json.loads((root / MANIFEST).read_text())
        with temporary_folder(root.parent, f".{root.name}.") as staging:
            generate_universe(staging, scale, seed)
            if root.exists():  # an incomplete earlier attempt
                shutil.rmtree(root)
            staging.rename(root)
        return json.loads((root / MANIFEST).read_text())
