"""The embedded default's LINCS release: a GSE92742-like GEO supplementary folder and CLUE's MoA tables.

Every downstream LINCS method (reversal scoring, connectivity, CSG2A pretraining) reads these
files through the same loaders as the real release, so the files copy the real names, columns,
id spellings and the GEO folder layout. The content carries a planted truth the tests check:

* each cell line × time point is a *plate family* of replicate plates (X1, X2, ...); every
  plate holds every compound at every dose once plus DMSO wells, as CMap plates do;
* a reverser of cancer type T moves its program genes toward normal (by −program_T) with a
  dose response, a time factor and a per-cell-line sensitivity; promiscuous compounds move
  many landmarks strongly (the staurosporine problem of best-shot scoring); the rest barely act;
* non-landmark genes are a fixed sparse linear map of the landmarks, like CMap's inferred genes;
* level 5 is computed from the shipped (float32) level 3 with the project's own CMap derivation
  (robust z against each plate's wells, MODZ across replicates), so it is exactly what
  ``derive_level5`` yields for a release that ships only level 3.

The helpers for deterministic gzip, GCTX and checksum files are shared with the other writers.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.fileio import atomic_write_text
from l1k_assets.lincs.gctx import write_gctx
from l1k_assets.lincs.levels import level5_from_level4, robust_zscore
from l1k_assets.sources.layout import clue_repurposing_url, geo_suppl_url
from l1k_assets.synthetic.chemistry import inchi_key, make_molecules
from l1k_assets.synthetic.gzipped import BULK_LEVEL, gz_stream, write_gz_text
from l1k_assets.synthetic.perturbagens import (
    GENETIC_CONTROLS,
    GeneticPanel,
    genetic_design,
    genetic_panel,
    genetic_response,
)
from l1k_assets.synthetic.universe import CANCER_TYPES, Universe

MISSING = "-666"
WELLS = [f"{row}{col:02d}" for row in "ABCDEFGHIJKLMNOP" for col in range(1, 25)]  # a 384-well plate
DOSE_UNIT = "µM"
TIME_UNIT = "h"
BROAD_SUFFIX = "-001-01-1"  # batch/salt suffix of a full Broad sample id
CLUE_DATE = "20200324"

CELL_INFO_COLUMNS = [
    "cell_id",
    "cell_type",
    "base_cell_id",
    "precursor_cell_id",
    "modification",
    "sample_type",
    "primary_site",
    "subtype",
    "original_growth_pattern",
    "provider_catalog_id",
    "original_source_vendor",
    "donor_age",
    "donor_sex",
    "donor_ethnicity",
]
# Real LINCS cell lines (annotations as LINCS lists them):
# cell_id, cell_type, sample_type, primary_site, subtype, provider_catalog_id, original_source_vendor, donor_age, donor_sex
CELL_LINES: tuple[tuple[str, ...], ...] = (
    ("A375", "cell line", "tumor", "skin", "malignant melanoma", "CRL-1619", "ATCC", "54", "F"),
    ("A549", "cell line", "tumor", "lung", "non small cell lung cancer", "CCL-185", "ATCC", "58", "M"),
    ("MCF7", "cell line", "tumor", "breast", "adenocarcinoma", "HTB-22", "ATCC", "69", "F"),
    ("PC3", "cell line", "tumor", "prostate", "adenocarcinoma", "CRL-1435", "ATCC", "62", "M"),
    ("VCAP", "cell line", "tumor", "prostate", "carcinoma", "CRL-2876", "ATCC", "59", "M"),
    ("HT29", "cell line", "tumor", "large intestine", "colorectal adenocarcinoma", "HTB-38", "ATCC", "44", "F"),
    ("HA1E", "cell line", "normal", "kidney", "normal kidney", MISSING, "Broad Institute", MISSING, MISSING),
    ("HCC515", "cell line", "tumor", "lung", "carcinoma", MISSING, "Broad Institute", MISSING, MISSING),
    ("HEPG2", "cell line", "tumor", "liver", "hepatocellular carcinoma", "HB-8065", "ATCC", "15", "M"),
    (
        "NPC",
        "primary cell",
        "normal",
        "central nervous system",
        "normal stem fibroblast-derived iPScs",
        MISSING,
        "MGH",
        MISSING,
        MISSING,
    ),
    ("ASC", "primary cell", "normal", "adipose", "normal primary adipocyte stem cells", MISSING, "PBRC", MISSING, MISSING),
    ("PHH", "primary cell", "normal", "liver", "normal primary liver", MISSING, "CellzDirect", MISSING, MISSING),
)
PERT_INFO_COLUMNS = [
    "pert_id",
    "pert_iname",
    "pert_type",
    "is_touchstone",
    "inchi_key_prefix",
    "inchi_key",
    "canonical_smiles",
    "pubchem_cid",
]
INST_INFO_COLUMNS = [
    "inst_id",
    "rna_plate",
    "rna_well",
    "pert_id",
    "pert_iname",
    "pert_type",
    "pert_dose",
    "pert_dose_unit",
    "pert_time",
    "pert_time_unit",
    "cell_id",
]
SIG_INFO_COLUMNS = [
    "sig_id",
    "pert_id",
    "pert_iname",
    "pert_type",
    "cell_id",
    "pert_dose",
    "pert_dose_unit",
    "pert_idose",
    "pert_time",
    "pert_time_unit",
    "pert_itime",
    "distil_id",
]
DMSO = {"pert_id": "DMSO", "pert_iname": "DMSO", "pert_type": "ctl_vehicle", "smiles": "CS(C)=O", "pubchem_cid": 679}

# Planted effect sizes (log2 units) and noise levels of level 3.
GENE_MEAN_RANGE = (6.0, 11.0)
CELL_SD = 0.6
PLATE_GENE_SD = 0.1
PLATE_OFFSET_SD = 0.15
WELL_NOISE_SD = 0.25
INFERRED_NOISE_SD = 0.2
INFERRED_PARENTS = 3
# L1000 level 3 is quantile-normalised to a reference distribution, so no value leaves its span.
L1000_LOG2_RANGE = (3.0, 15.0)
# Level 3 is stored in steps of 2^-10 log2 units, far below the well noise: the low mantissa bits
# become zero, which lets gzip shrink the file by ~40% instead of ~12%.
LEVEL3_STEPS_PER_UNIT = 1024
PROMISCUOUS_PROGRAMS = 3
GEO_GENETIC_TYPES = ("trt_sh", "trt_oe")  # GSE92742 predates CMap's CRISPR screens


# ---------------------------------------------------------------- shared file helpers


def distinct_ints(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """``n`` distinct integers in [low, high): identifiers such as PubChem or COSMIC ids, drawn without
    materialising the range (a permutation of 90 million numbers takes seconds)."""
    return low + rng.choice(high - low, n, replace=False)


def geo_suppl_dir(root: Path, accession: str) -> Path:
    """The mirror folder of a series' supplementary files, laid out exactly as GEO's FTP tree."""
    return Path(geo_suppl_url(str(Path(root) / "geo"), accession, ""))


def table_text(frame: pd.DataFrame, sep: str = "\t") -> str:
    """A table as the LINCS/GEO text files spell it: header line, ``\\n`` endings, no index."""
    return frame.to_csv(sep=sep, index=False, lineterminator="\n")


def write_gctx_gz(dest: Path, data: pd.DataFrame, row_meta: pd.DataFrame, col_meta: pd.DataFrame) -> None:
    """A gzipped GCTX as GEO serves level 3/5: the HDF5 file itself is stored without inner compression,
    since the outer gzip compresses it and consumers decompress it once for random access."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".gctx.") as tmp:
        plain = write_gctx(Path(tmp) / dest.name.removesuffix(".gz"), data, row_meta, col_meta, compression=None)
        with open(plain, "rb") as src, gz_stream(dest, BULK_LEVEL) as gz:
            shutil.copyfileobj(src, gz, 1 << 20)


def write_sha512sums(folder: Path, accession: str) -> Path:
    """``<accession>_SHA512SUMS.txt.gz`` over every other file of the folder, in GEO's ``<hex>  <name>`` form."""
    dest = folder / f"{accession}_SHA512SUMS.txt.gz"
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p != dest)
    lines = [f"{hashlib.sha512((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names]
    write_gz_text(dest, "".join(lines))
    return dest


# ---------------------------------------------------------------- metadata tables


def cell_info(n_cell_lines: int) -> pd.DataFrame:
    """The first ``n_cell_lines`` real LINCS cell lines in GSE92742's cell_info columns."""
    rows = pd.DataFrame(
        list(CELL_LINES[:n_cell_lines]),
        columns=[
            "cell_id",
            "cell_type",
            "sample_type",
            "primary_site",
            "subtype",
            "provider_catalog_id",
            "original_source_vendor",
            "donor_age",
            "donor_sex",
        ],
    )
    table = rows.assign(
        base_cell_id=rows.cell_id,
        precursor_cell_id=MISSING,
        modification=MISSING,
        original_growth_pattern="adherent",
        donor_ethnicity=MISSING,
    )
    return table[CELL_INFO_COLUMNS]


def pert_info(universe: Universe, rng: np.random.Generator, panel: GeneticPanel) -> pd.DataFrame:
    """Compounds (with generated structures), the DMSO vehicle, then the genetic perturbagens and their controls,
    in GSE92742's pert_info columns (chemical fields -666 for what is not a chemical)."""
    cp = universe.compounds
    molecules = make_molecules(len(cp), rng)
    smiles = [m.smiles for m in molecules] + [DMSO["smiles"]]
    keys = [inchi_key(s) for s in smiles]
    cids = np.append(distinct_ints(rng, 100_000, 90_000_000, len(cp)), DMSO["pubchem_cid"])
    chemical = pd.DataFrame(
        {
            "pert_id": [*cp.pert_id, DMSO["pert_id"]],
            "pert_iname": [*cp.pert_iname, DMSO["pert_iname"]],
            "pert_type": ["trt_cp"] * len(cp) + [DMSO["pert_type"]],
            "is_touchstone": np.append((rng.random(len(cp)) < 0.6).astype(int), 0),
            "inchi_key_prefix": [k.split("-")[0] for k in keys],
            "inchi_key": keys,
            "canonical_smiles": smiles,
            "pubchem_cid": cids,
        }
    )
    controls = pd.DataFrame(
        [
            {"pert_id": pid, "pert_iname": name, "pert_type": t, "is_touchstone": 0}
            for t, (pid, name, _) in GENETIC_CONTROLS.items()
        ]
    )
    # every genetic perturbagen is in the reference (CMap's Touchstone holds knock-downs and over-expressions)
    genetic = panel.perts[["pert_id", "pert_iname", "pert_type"]].assign(is_touchstone=1)
    return pd.concat([chemical, genetic, controls], ignore_index=True).fillna(MISSING)


def instance_design(universe: Universe, cells: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Every well of every plate: inst_info columns plus ``family``, ``cp`` (compound row, -1 for DMSO) and ``sig_id``.

    Compounds are split into as few compound-plate collections (CPC...) as a 384-well plate
    allows; each collection × cell line × time point is one plate family of replicate plates
    sharing one layout, so a signature's replicates sit on sibling plates as in CMap.
    """
    sc = universe.scale
    cp = universe.compounds
    slots_per_plate = len(WELLS) - sc.dmso_per_plate
    per_collection = max(1, slots_per_plate // len(sc.doses_um))
    collections = np.array_split(np.arange(len(cp)), -(-len(cp) // per_collection))
    frames = []
    for k, members in enumerate(collections):
        cp_idx = np.append(np.repeat(members, len(sc.doses_um)), np.full(sc.dmso_per_plate, -1))
        doses = np.append(np.tile(sc.doses_um, len(members)), np.full(sc.dmso_per_plate, np.nan))
        for cell in cells:
            for time in sc.times_h:
                family = f"CPC{6 + k:03d}_{cell}_{time}H"
                wells = np.asarray(WELLS)[rng.permutation(len(WELLS))[: len(cp_idx)]]
                for rep in range(1, sc.replicates + 1):
                    plate = f"{family}_X{rep}_B{rng.integers(1, 40)}_DUO52HI53LO"
                    frames.append(
                        pd.DataFrame(
                            {"rna_plate": plate, "rna_well": wells, "cp": cp_idx, "dose": doses, "cell_id": cell, "time": time}
                        ).assign(family=family)
                    )
    design = pd.concat(frames, ignore_index=True)
    is_cp = design.cp.to_numpy() >= 0
    lookup = cp.iloc[design.cp.clip(lower=0)].reset_index(drop=True)
    design["inst_id"] = design.rna_plate + ":" + design.rna_well
    design["pert_id"] = np.where(is_cp, lookup.pert_id, DMSO["pert_id"])
    design["pert_iname"] = np.where(is_cp, lookup.pert_iname, DMSO["pert_iname"])
    design["pert_type"] = np.where(is_cp, "trt_cp", DMSO["pert_type"])
    design["pert_dose"] = design.dose.astype(object).where(is_cp, MISSING)
    design["pert_dose_unit"] = np.where(is_cp, DOSE_UNIT, MISSING)
    design["pert_time"] = design.time
    design["pert_time_unit"] = TIME_UNIT
    dose_text = design.dose.map(lambda d: f"{d:g}")
    design["sig_id"] = (design.family + ":" + design.pert_id + BROAD_SUFFIX + ":" + dose_text).where(is_cp)
    return design


def with_genetic_wells(compound_design: pd.DataFrame, genetic: pd.DataFrame) -> pd.DataFrame:
    """Compound plates and genetic plates as one design, every well with its inst_id and a signature id.

    A compound signature is (family, compound, dose); a genetic one (family, perturbagen); a
    control signature is one well position of a plate family across its replicate plates
    (CMap's vehicle and vector signatures), named ``<family>:<pert_id>:-666:<well>``.
    """
    genetic = genetic.assign(
        inst_id=genetic.rna_plate + ":" + genetic.rna_well,
        pert_dose=MISSING,
        pert_dose_unit=MISSING,
        pert_time=genetic.time,
        pert_time_unit=TIME_UNIT,
        sig_id=genetic.family + ":" + genetic.pert_id + ":" + MISSING,
    )
    design = pd.concat([compound_design, genetic], ignore_index=True)
    control = design.pert_type.str.startswith("ctl").to_numpy()
    well_sig = design.family + ":" + design.pert_id + ":" + MISSING + ":" + design.rna_well
    design["sig_id"] = design.sig_id.where(~control, well_sig)
    return design


def signature_info(design: pd.DataFrame) -> pd.DataFrame:
    """One level-5 signature per sig_id of the design: its replicate wells joined into ``distil_id``."""
    grouped = design.groupby("sig_id", sort=False)
    sig = grouped.first().reset_index()
    sig["distil_id"] = grouped.inst_id.agg("|".join).to_numpy()
    sig["pert_idose"] = sig.dose.map(lambda d: MISSING if np.isnan(d) else f"{d:g} {DOSE_UNIT}")
    sig["pert_itime"] = sig.time.map(lambda t: f"{t} {TIME_UNIT}")
    return sig[[*SIG_INFO_COLUMNS, "family"]]


# ---------------------------------------------------------------- expression


def compound_effects(universe: Universe, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per compound, the full-dose landmark shift (compounds × landmarks) and its EC50 in µM.

    Reversers shift by −program (normal minus tumor); promiscuous compounds mix several
    programs' reversal with strong random shifts; the rest get small sparse random shifts.
    """
    landmarks = pd.Index(universe.landmarks)
    cp = universe.compounds
    effects = np.zeros((len(cp), len(landmarks)))
    ec50 = np.exp(rng.normal(0.0, 0.5, len(cp)))  # around 1 µM
    for i, ctype in enumerate(cp.reverses):
        if ctype:
            program = universe.programs[ctype]
            effects[i, landmarks.get_indexer(program.index)] = -program.to_numpy()
        elif cp.promiscuous.iloc[i]:
            for other in rng.choice(CANCER_TYPES, PROMISCUOUS_PROGRAMS, replace=False):
                program = universe.programs[other]
                effects[i, landmarks.get_indexer(program.index)] -= 1.2 * program.to_numpy()
            hit = rng.random(len(landmarks)) < 0.3
            effects[i, hit] += rng.normal(0.0, 1.2, hit.sum())
            ec50[i] *= 0.3  # potent as well as broad
        else:
            hit = rng.random(len(landmarks)) < 0.1
            effects[i, hit] = rng.normal(0.0, 0.3, hit.sum())
    return effects, ec50


def inferred_map(universe: Universe, rng: np.random.Generator) -> np.ndarray:
    """A sparse linear map (non-landmarks × landmarks), ``INFERRED_PARENTS`` landmarks per gene."""
    n_lm = int(universe.genes.pr_is_lm.sum())
    n_inf = len(universe.genes) - n_lm
    weights = np.zeros((n_inf, n_lm))
    parents = np.argsort(rng.random((n_inf, n_lm)), axis=1)[:, :INFERRED_PARENTS]
    np.put_along_axis(weights, parents, rng.normal(0.0, 0.5, parents.shape), axis=1)
    return weights


@dataclass(frozen=True)
class CellModel:
    """What every plate of a release shares: cell lines' basal landmark levels and how inferred genes follow landmarks."""

    cells: pd.Index
    gene_mean: np.ndarray  # landmarks
    basal: np.ndarray  # cells × landmarks
    weights: np.ndarray  # inferred genes × landmarks
    inferred_mean: np.ndarray  # inferred genes


def level3_matrix(universe: Universe, design: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, CellModel]:
    """Level-3-like log2 expression of the compound plates (all genes × wells, float32): basal + plate + compound
    effect + noise; and the cell model other plates of the release share."""
    genes = universe.genes
    n_lm = int((genes.pr_is_lm.to_numpy() == 1).sum())
    cells = pd.Index(design.cell_id.unique())
    gene_mean = rng.uniform(*GENE_MEAN_RANGE, n_lm)
    basal = gene_mean + rng.normal(0.0, CELL_SD, (len(cells), n_lm))
    sensitivity = rng.uniform(0.5, 1.3, (len(cells), len(universe.compounds)))
    effects, ec50 = compound_effects(universe, rng)
    cell_idx = cells.get_indexer(design.cell_id)
    cp_idx = design.cp.to_numpy()
    is_cp = cp_idx >= 0
    dose = design.dose.fillna(0.0).to_numpy()
    time = design.time.to_numpy(dtype=float)
    response = dose / (dose + ec50[cp_idx]) * sensitivity[cell_idx, cp_idx] * time / (time + 6.0) * is_cp
    landmark = basal[cell_idx] + _plate_shift(design, n_lm, rng) + effects[cp_idx] * response[:, None]
    landmark += rng.normal(0.0, WELL_NOISE_SD, (len(design), n_lm))
    weights = inferred_map(universe, rng)
    model = CellModel(cells, gene_mean, basal, weights, rng.uniform(*GENE_MEAN_RANGE, len(weights)))
    return _assemble(universe, model, design, landmark, rng), model


def shifted_level3(
    universe: Universe, model: CellModel, design: pd.DataFrame, shift: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Level 3 of further plates of the same release (genetic plates): the model's basal + plate + ``shift`` + noise."""
    n_lm = len(model.gene_mean)
    landmark = model.basal[model.cells.get_indexer(design.cell_id)] + _plate_shift(design, n_lm, rng) + shift
    landmark += rng.normal(0.0, WELL_NOISE_SD, (len(design), n_lm))
    return _assemble(universe, model, design, landmark, rng)


def _plate_shift(design: pd.DataFrame, n_lm: int, rng: np.random.Generator) -> np.ndarray:
    """Per well, its plate's landmark shift (a per-gene part and a plate-wide offset)."""
    plates = pd.Index(design.rna_plate.unique())
    shift = rng.normal(0.0, PLATE_GENE_SD, (len(plates), n_lm)) + rng.normal(0.0, PLATE_OFFSET_SD, (len(plates), 1))
    return shift[plates.get_indexer(design.rna_plate)]


def _assemble(
    universe: Universe, model: CellModel, design: pd.DataFrame, landmark: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """All genes × wells: the landmarks, inferred genes from them plus noise, clipped and quantised as L1000's level 3."""
    genes = universe.genes
    is_lm = genes.pr_is_lm.to_numpy() == 1
    inferred = (
        model.inferred_mean
        + (landmark - model.gene_mean) @ model.weights.T
        + rng.normal(0.0, INFERRED_NOISE_SD, (len(design), len(model.weights)))
    )
    values = np.empty((len(genes), len(design)), dtype=np.float32)
    values[is_lm] = landmark.T
    values[~is_lm] = inferred.T
    values = np.round(np.clip(values, *L1000_LOG2_RANGE) * LEVEL3_STEPS_PER_UNIT) / LEVEL3_STEPS_PER_UNIT
    return pd.DataFrame(values, index=genes.pr_gene_id.astype(str).to_numpy(), columns=design.inst_id.to_numpy())


def level5_matrix(level3: pd.DataFrame, design: pd.DataFrame, sig: pd.DataFrame) -> pd.DataFrame:
    """Level 5 from the shipped level 3, family by family as ``derive_level5`` does: every well of a
    plate (DMSO included) is its population for the robust z, then replicates collapse by MODZ."""
    replicates = design.dropna(subset=["sig_id"]).set_index("inst_id").sig_id
    blocks = []
    for _, wells in design.groupby("family", sort=False):
        level4 = robust_zscore(level3[wells.inst_id.to_numpy()], wells.rna_plate.to_numpy())
        members = wells.inst_id[wells.sig_id.notna()].to_numpy()
        blocks.append(level5_from_level4(level4[members], replicates.loc[members]))
    return pd.concat(blocks, axis=1)[sig.sig_id.to_numpy()].astype(np.float32)


# ---------------------------------------------------------------- the release


@dataclass(frozen=True)
class SimulatedRelease:
    """One release's wells, signatures and matrices, before any file layout: GEO's and CLUE's writers share it."""

    design: pd.DataFrame  # every well: inst_info columns, family, cp, sig_id
    sig: pd.DataFrame  # every signature: SIG_INFO_COLUMNS and family
    level3: pd.DataFrame  # genes × wells
    level5: pd.DataFrame  # genes × signatures
    panel: GeneticPanel
    perts: pd.DataFrame  # pert_info: compounds, vehicle, genetic perturbagens, their controls


def simulate_release(universe: Universe, cells: list[str], genetic_types: tuple[str, ...], stream: str) -> SimulatedRelease:
    """Compound plates and genetic plates of ``cells`` in one release; ``stream`` names its random streams."""
    compounds = instance_design(universe, cells, universe.rng(f"{stream}_design"))
    level3, model = level3_matrix(universe, compounds, universe.rng(f"{stream}_level3"))
    panel = genetic_panel(universe, genetic_types, universe.rng(f"{stream}_genetic"))
    genetic = genetic_design(universe, panel, cells, WELLS, universe.rng(f"{stream}_genetic_design"))
    design = with_genetic_wells(compounds, genetic)
    plates = design.iloc[len(compounds) :]
    shift = genetic_response(universe, panel, plates, universe.rng(f"{stream}_genetic_response"))
    level3 = pd.concat([level3, shifted_level3(universe, model, plates, shift, universe.rng(f"{stream}_genetic_level3"))], axis=1)
    sig = signature_info(design)
    perts = pert_info(universe, universe.rng(f"{stream}_structures"), panel)
    return SimulatedRelease(design, sig, level3, level5_matrix(level3, design, sig), panel, perts)


def genetic_truth(release: SimulatedRelease) -> dict[str, Any]:
    """The planted genetic truth: each hub's cancer type and the knock-downs (shRNA, CRISPR) that reverse it."""
    perts = release.panel.perts
    knockdown = perts[(perts.reverses != "") & perts.pert_type.isin(["trt_sh", "trt_xpr"])]
    return {
        "hubs": dict(perts.loc[perts.reverses != "", ["reverses", "pert_iname"]].drop_duplicates().to_numpy().tolist()),
        "reversing_knockdowns": {c: g.pert_id.tolist() for c, g in knockdown.groupby("reverses")},
        "signatures_per_type": release.sig.pert_type.value_counts().to_dict(),
    }


def write_lincs_release(universe: Universe, root: Path, release: str = "GSE92742") -> dict[str, Any]:
    """Write the release folder and the CLUE MoA tables; return the planted truth for the manifest."""
    folder = geo_suppl_dir(root, release)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"{release}_Broad_LINCS_"
    cells = cell_info(universe.scale.n_cell_lines)
    simulated = simulate_release(universe, cells.cell_id.tolist(), GEO_GENETIC_TYPES, "lincs")
    design, sig, level3, level5, perts = simulated.design, simulated.sig, simulated.level3, simulated.level5, simulated.perts

    row_meta = pd.DataFrame(
        {"pr_gene_symbol": universe.genes.pr_gene_symbol.to_numpy(), "pr_is_lm": universe.genes.pr_is_lm.to_numpy()},
        index=level3.index,
    )
    n_genes = len(level3)
    write_gz_text(folder / f"{prefix}gene_info.txt.gz", table_text(universe.genes))
    write_gz_text(folder / f"{prefix}cell_info.txt.gz", table_text(cells))
    write_gz_text(folder / f"{prefix}pert_info.txt.gz", table_text(perts))
    write_gz_text(folder / f"{prefix}inst_info.txt.gz", table_text(design[INST_INFO_COLUMNS]))
    write_gz_text(folder / f"{prefix}sig_info.txt.gz", table_text(sig[SIG_INFO_COLUMNS]))
    inst_meta = design.set_index("inst_id")[["pert_id", "pert_iname", "pert_type", "cell_id", "rna_plate", "pert_time"]]
    write_gctx_gz(
        folder / f"{prefix}Level3_INF_mlr12k_n{level3.shape[1]}x{n_genes}.gctx.gz",
        level3,
        row_meta,
        inst_meta.assign(pert_dose=design.dose.to_numpy()),
    )
    sig_meta = sig.set_index("sig_id")[["pert_id", "pert_iname", "pert_type", "cell_id", "pert_idose", "pert_itime"]]
    write_gctx_gz(
        folder / f"{prefix}Level5_COMPZ.MODZ_n{level5.shape[1]}x{n_genes}.gctx.gz",
        level5,
        row_meta,
        sig_meta.assign(distil_nsample=sig.distil_id.str.count(r"\|").to_numpy() + 1),
    )
    write_sha512sums(folder, release)
    write_repurposing_hub(universe, root, perts, universe.rng("clue_repurposing"))

    cp = universe.compounds
    return {
        "release": release,
        "n_instances": len(design),
        "n_signatures": len(sig),
        "n_plates": int(design.rna_plate.nunique()),
        "reversers": {c: cp.loc[cp.reverses == c, "pert_id"].tolist() for c in CANCER_TYPES},
        "promiscuous": cp.loc[cp.promiscuous, "pert_id"].tolist(),
        "cell_lines": cells.cell_id.tolist(),
        "dmso_per_plate": universe.scale.dmso_per_plate,
        "genetic": genetic_truth(simulated),
    }


# ---------------------------------------------------------------- CLUE repurposing hub


def _clue_text(table: pd.DataFrame, table_name: str) -> str:
    """A repurposing-hub table: ``!``-prefixed provenance lines padded to the column count, then the TSV."""
    pad = "\t" * (table.shape[1] - 2)
    header = [
        ("Source", '"l1k embedded default (synthetic, Drug Repurposing Hub format)"'),
        ("File_date", "3/24/2020"),
        ("Table_name", table_name),
        ("Disclaimer", "Synthetic data generated for testing; not for any research or clinical use."),
    ]
    return "".join(f"!{key}\t{value}{pad}\n" for key, value in header) + table_text(table)


def write_repurposing_hub(universe: Universe, root: Path, perts: pd.DataFrame, rng: np.random.Generator) -> None:
    """CLUE's drug table (name, phase, MoA, targets) and sample table (Broad ids, structures) for the compounds."""
    from rdkit import Chem
    from rdkit.Chem.Descriptors import ExactMolWt

    cp = universe.compounds
    landmarks = np.asarray(universe.landmarks)
    targets = []
    for ctype in cp.reverses:
        pool = universe.programs[ctype].index.to_numpy() if ctype else landmarks
        targets.append("|".join(sorted(rng.choice(pool, rng.integers(1, 4), replace=False))))
    drugs = pd.DataFrame(
        {
            "pert_iname": cp.pert_iname,
            "clinical_phase": rng.choice(["Launched", "Phase 3", "Phase 2", "Phase 1", "Preclinical"], len(cp)),
            "moa": cp.moa,
            "target": targets,
            "disease_area": rng.choice(["oncology", "neurology/psychiatry", "cardiology", "infectious disease", ""], len(cp)),
            "indication": "",
        }
    )
    compounds = perts[perts.pert_type == "trt_cp"].reset_index(drop=True).astype({"pubchem_cid": int})
    samples = pd.DataFrame(
        {
            "broad_id": compounds.pert_id + BROAD_SUFFIX,
            "pert_iname": compounds.pert_iname,
            "qc_incompatible": 0,
            "purity": np.round(rng.uniform(95.0, 99.9, len(compounds)), 2),
            "vendor": rng.choice(["MedChemEx", "Selleck", "Tocris", "Cayman Chemical"], len(compounds)),
            "catalog_no": [f"HY-{n}" for n in rng.integers(10_000, 99_999, len(compounds))],
            "vendor_name": compounds.pert_iname,
            "expected_mass": [round(ExactMolWt(Chem.MolFromSmiles(s)), 3) for s in compounds.canonical_smiles],
            "smiles": compounds.canonical_smiles,
            "InChIKey": compounds.inchi_key,
            "pubchem_cid": compounds.pubchem_cid,
            "deprecated_broad_id": "",
        }
    )
    base = str(Path(root) / "clue")
    atomic_write_text(Path(clue_repurposing_url(base, "drugs", CLUE_DATE)), _clue_text(drugs, "drug information"))
    atomic_write_text(Path(clue_repurposing_url(base, "samples", CLUE_DATE)), _clue_text(samples, "sample information"))
