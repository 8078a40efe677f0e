"""The embedded default's LINCS 2020: CLUE's bucket folder, ``_beta`` tables and one GCTX per level and type.

It is laid out as ``s3/macchiato.clue.io/builds/LINCS2020/`` below the mirror root, so the
folder served over HTTP at ``<server>/macchiato.clue.io/builds/LINCS2020/`` is CLUE's own
path-style bucket URL, and copies what a user meets in the real build:

* ``geneinfo_beta.txt`` (``feature_space`` landmark / best inferred / inferred, and the literal
  ``""`` the real file writes for a missing Ensembl id), ``siginfo_beta.txt``,
  ``instinfo_beta.txt``, ``cellinfo_beta.txt`` (only some of the real columns), and
  ``compoundinfo_beta.txt`` with one row per compound *and target*, so a compound repeats;
* ``level3/``, ``level4/``, ``level5/`` with one matrix per part (``trt_cp``, ``trt_sh``,
  ``trt_oe``, ``trt_xpr``, and ``ctl`` holding every control type), named with their shape;
* exemplar flags (``is_exemplar_sig``: the highest dose per compound and cell line, every
  genetic signature), the set CLUE's query app uses as its reference;
* an MD5 table outside the bucket (``checksums/LINCS2020.md5.csv``), listing the same files as
  the one l1k ships for the real build, so the other files are fetched with a warning, as they are
  from CLUE.

The wells are a fresh simulation of the same universe (four cell lines, the compounds at two
doses and 24 h, and the genetic screens), so reversers reverse here too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.fileio import atomic_write_text, file_digest
from l1k_assets.lincs.gctx import write_gctx
from l1k_assets.lincs.levels import robust_zscore
from l1k_assets.sources.layout import CLUE_BUILD_MIRROR_PATH
from l1k_assets.synthetic.lincs_writer import (
    BROAD_SUFFIX,
    CELL_LINES,
    MISSING,
    SimulatedRelease,
    genetic_truth,
    simulate_release,
    table_text,
)
from l1k_assets.synthetic.universe import Universe

BUILD = "LINCS2020"
CELL_LINES_KEPT = 4
DOSES_KEPT = 2  # the highest doses of the scale
TIMES_H = (24,)
GENETIC_TYPES = ("trt_sh", "trt_oe", "trt_xpr")
CHECKSUMS_LISTED = ("geneinfo_beta.txt", "siginfo_beta.txt", "level5/")  # what l1k's table lists for the real build

SIGINFO_COLUMNS = [
    "bead_batch", "nearest_dose", "pert_dose", "pert_dose_unit", "pert_idose", "pert_time", "pert_time_unit", "pert_itime",
    "cell_mfc_name", "pert_mfc_id", "nsample", "tas", "qc_pass", "pert_id", "sig_id", "pert_type", "cell_iname",
    "det_wells", "det_plates", "distil_ids", "build_name", "project_code", "cmap_name", "is_exemplar_sig", "is_ncs_sig",
    "is_null_sig",
]  # fmt: skip
INSTINFO_COLUMNS = [
    "bead_batch", "nearest_dose", "pert_dose", "pert_dose_unit", "pert_idose", "pert_time", "pert_itime", "pert_time_unit",
    "cell_mfc_name", "pert_mfc_id", "det_plate", "det_well", "rna_plate", "rna_well", "pert_id", "sample_id", "pert_type",
    "cell_iname", "qc_pass", "build_name", "project_code", "cmap_name",
]  # fmt: skip


def build_folder(root: Path) -> Path:
    """Where the mirror keeps the build: the bucket path below an S3 endpoint, as CLUE's own."""
    return Path(root) / CLUE_BUILD_MIRROR_PATH / BUILD


def _part(pert_type: str) -> str:
    return "ctl" if pert_type.startswith("ctl") else pert_type


def gene_table(universe: Universe, rng: np.random.Generator) -> pd.DataFrame:
    """geneinfo_beta: Entrez id, symbol, Ensembl id (some ``""``), title, type, source, feature space."""
    genes = universe.genes
    ensembl = [f"ENSG{n:011d}" for n in rng.choice(90_000, len(genes), replace=False) + 100_000]
    space = np.where(genes.pr_is_lm == 1, "landmark", np.where(genes.pr_is_bing == 1, "best inferred", "inferred"))
    return pd.DataFrame(
        {
            "gene_id": genes.pr_gene_id,
            "gene_symbol": genes.pr_gene_symbol,
            "ensembl_id": np.where(rng.random(len(genes)) < 0.05, '""', ensembl),
            "gene_title": genes.pr_gene_title,
            "gene_type": "protein-coding",
            "src": "NCBI",
            "feature_space": space,
        }
    )


def cell_table(cells: list[str]) -> pd.DataFrame:
    """cellinfo_beta with a subset of its columns (a table may carry only some; the reader needs cell_iname)."""
    rows = {row[0]: row for row in CELL_LINES}
    return pd.DataFrame(
        {
            "cell_iname": cells,
            "cellosaurus_id": [f"CVCL_{1000 + i:04d}" for i in range(len(cells))],
            "donor_age": [rows[c][7] for c in cells],
            "provider_catalog_id": [rows[c][5] for c in cells],
            "cell_type": [rows[c][2] for c in cells],
            "donor_sex": [rows[c][8] for c in cells],
            "growth_pattern": "adherent",
            "provider_name": [rows[c][6] for c in cells],
            "ccle_name": [f"{c}_{rows[c][3].upper().replace(' ', '_')}" for c in cells],
            "cell_lineage": [rows[c][3] for c in cells],
            "primary_disease": [rows[c][4] for c in cells],
        }
    )


def compound_table(universe: Universe, simulated: SimulatedRelease, rng: np.random.Generator) -> pd.DataFrame:
    """compoundinfo_beta: one row per compound and target, so a compound with three targets has three rows."""
    perts = simulated.perts[simulated.perts.pert_type == "trt_cp"].set_index("pert_id")
    moa = universe.compounds.set_index("pert_id").moa
    landmarks = np.asarray(universe.landmarks)
    rows = []
    for pert_id, row in perts.iterrows():
        for target in rng.choice(landmarks, int(rng.integers(1, 4)), replace=False):
            rows.append(
                {
                    "pert_id": pert_id,
                    "cmap_name": row.pert_iname,
                    "target": target,
                    "moa": moa[pert_id],
                    "canonical_smiles": row.canonical_smiles,
                    "inchi_key": row.inchi_key,
                    "compound_aliases": str(row.pert_iname).replace("-", ""),
                }
            )
    return pd.DataFrame(rows)


def _condition_columns(rows: pd.DataFrame) -> dict[str, object]:
    """The columns siginfo_beta and instinfo_beta share: batch, dose and time (number, unit, display), cell, sample id.

    Non-compounds have no dose: -666 throughout, as in the real tables.
    """
    dose = pd.to_numeric(rows.pert_dose.mask(rows.pert_dose == MISSING))
    compound = rows.pert_type == "trt_cp"
    return {
        "bead_batch": "b17",
        "nearest_dose": dose.fillna(MISSING),
        "pert_dose": dose.fillna(MISSING),
        "pert_dose_unit": np.where(compound, "uM", MISSING),
        "pert_idose": np.where(compound, dose.map(lambda v: MISSING if pd.isna(v) else f"{v:g} uM"), MISSING),
        "pert_time": rows.pert_time,
        "pert_time_unit": "h",
        "pert_itime": rows.pert_time.map(lambda t: f"{t} h"),
        "cell_mfc_name": rows.cell_id,
        "pert_mfc_id": np.where(compound, rows.pert_id + BROAD_SUFFIX, rows.pert_id),
        "pert_id": rows.pert_id,
        "pert_type": rows.pert_type,
        "cell_iname": rows.cell_id,
        "qc_pass": 1,
        "build_name": BUILD,
        "project_code": rows.family.str[:3],
        "cmap_name": rows.pert_iname,
    }


def signature_table(simulated: SimulatedRelease, rng: np.random.Generator) -> pd.DataFrame:
    """siginfo_beta: the release's signatures in LINCS 2020's names, with exemplar flags and replicate lists."""
    sig, design = simulated.sig, simulated.design.set_index("inst_id")
    wells = sig.distil_id.str.split("|")
    dose = pd.to_numeric(sig.pert_dose.mask(sig.pert_dose == MISSING))
    exemplar = dose.fillna(0).groupby([sig.pert_id, sig.cell_id]).rank(method="first", ascending=False) == 1
    own = {
        "nsample": wells.map(len),
        "tas": np.round(rng.uniform(0.05, 0.9, len(sig)), 4),
        "sig_id": sig.sig_id,
        "det_wells": wells.map(lambda w: "|".join(design.rna_well.loc[w])),
        "det_plates": wells.map(lambda w: "|".join(design.rna_plate.loc[w])),
        "distil_ids": sig.distil_id,
        "is_exemplar_sig": exemplar.astype(int).to_numpy(),
        "is_ncs_sig": 1,
        "is_null_sig": 0,
    }
    return pd.DataFrame(_condition_columns(sig) | own)[SIGINFO_COLUMNS]


def instance_table(simulated: SimulatedRelease) -> pd.DataFrame:
    """instinfo_beta: every well in LINCS 2020's names (sample_id, cell_iname, cmap_name, det_plate beside rna_plate)."""
    d = simulated.design
    own = {
        "det_plate": d.rna_plate,
        "det_well": d.rna_well,
        "rna_plate": d.rna_plate,
        "rna_well": d.rna_well,
        "sample_id": d.inst_id,
    }
    return pd.DataFrame(_condition_columns(d) | own)[INSTINFO_COLUMNS]


def _write_parts(folder: Path, level: int, matrix: pd.DataFrame, types: pd.Series) -> dict[str, int]:
    """One GCTX per part, named ``level<k>/level<k>_beta_<part>_n<columns>x<rows>.gctx``; returns columns per part."""
    parts = types.map(_part)
    written = {}
    for part in sorted(parts.unique()):
        columns = types.index[parts == part]
        block = matrix[columns]
        name = f"level{level}_beta_{part}_n{block.shape[1]}x{block.shape[0]}.gctx"
        write_gctx(folder / f"level{level}" / name, block)
        written[part] = block.shape[1]
    return written


def write_checksum_table(root: Path, folder: Path) -> Path:
    """The mirror's MD5 table, in the format of l1k's shipped one, listing the files that one lists for the real build."""
    keys = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    listed = [k for k in keys if k in CHECKSUMS_LISTED or k.startswith(CHECKSUMS_LISTED[-1])]
    lines = [
        "# LINCS 2020 MD5 checksums of the l1k embedded default (synthetic), in the format of the table l1k ships",
        "# for the real build (copied from CLUE's download page); it lists the same files that table does.",
        "file,md5",
        *(f"{k},{file_digest(folder / k, 'md5')}" for k in listed),
    ]
    dest = Path(root) / "checksums" / f"{BUILD}.md5.csv"
    atomic_write_text(dest, "\n".join(lines) + "\n")
    return dest


def write_lincs2020(universe: Universe, root: Path) -> dict[str, Any]:
    """Write the LINCS 2020 build folder and its MD5 table; return the planted truth for the manifest."""
    sc = universe.scale
    scaled = replace(universe, scale=replace(sc, doses_um=sc.doses_um[-DOSES_KEPT:], times_h=TIMES_H))
    cells = [row[0] for row in CELL_LINES[: min(CELL_LINES_KEPT, sc.n_cell_lines)]]
    simulated = simulate_release(scaled, cells, GENETIC_TYPES, "lincs2020")
    folder = build_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    rng = universe.rng("lincs2020_tables")
    tables = {
        "geneinfo_beta.txt": gene_table(universe, rng),
        "cellinfo_beta.txt": cell_table(cells),
        "compoundinfo_beta.txt": compound_table(universe, simulated, rng),
        "instinfo_beta.txt": instance_table(simulated),
        "siginfo_beta.txt": signature_table(simulated, rng),
    }
    for name, table in tables.items():
        atomic_write_text(folder / name, table_text(table))
    design = simulated.design.set_index("inst_id")
    level4 = pd.concat(
        [
            robust_zscore(simulated.level3[w.inst_id.to_numpy()], w.rna_plate.to_numpy())
            for _, w in simulated.design.groupby("family")
        ],
        axis=1,
    )[simulated.level3.columns].astype(np.float32)
    parts3 = _write_parts(folder, 3, simulated.level3, design.pert_type.loc[simulated.level3.columns])
    _write_parts(folder, 4, level4, design.pert_type.loc[level4.columns])
    sig_types = simulated.sig.set_index("sig_id").pert_type
    parts5 = _write_parts(folder, 5, simulated.level5, sig_types.loc[simulated.level5.columns])
    write_checksum_table(root, folder)
    exemplars = tables["siginfo_beta.txt"]
    return {
        "release": BUILD,
        "cell_lines": cells,
        "level3_parts": parts3,
        "level5_parts": parts5,
        "n_signatures": len(simulated.sig),
        "n_exemplars": int(exemplars.is_exemplar_sig.sum()),
        "compounds_with_several_targets": int(tables["compoundinfo_beta.txt"].pert_id.duplicated().sum()),
        "genetic": genetic_truth(simulated),
    }
