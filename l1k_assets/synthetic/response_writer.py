"""The embedded default's drug-response sources: GDSC-like screens and basal expression, STRING-like PPI.

CSG2A fine-tunes on GDSC log IC50 from basal expression, compound structure and a STRING
prior, after pretraining on L1000. The files copy GDSC release 8.5's and STRING v12's names
and columns; the content plants a response the tests (and the benchmark) can check a model
recovers, and links it to what L1000 pretraining can learn, as the paper's transfer assumes:

* every GDSC drug is a compound of the LINCS release (the same molecule, so the same SMILES;
  most real GDSC drugs were profiled in L1000), reversers of a cancer program first, both
  reversers of a type together (twins of different structure that act alike in L1000);
* a drug kills the cells that depend on what it shuts down ("oncogene addiction"): its
  sensitivity follows the basal expression of the genes it moves in L1000, along its
  LINCS effect e[drug] (−program[T] for a reverser of type T, 0 for a near-inert compound);
* a general fitness factor makes fast-growing lines sensitive to every drug, as the first
  factor of real GDSC IC50 matrices does: each line's proliferation rate moves a co-expressed
  module F of landmarks (outside every cancer program) together;
* drugs of one structure class (the scaffold of its SMILES) share a potency, a screening
  range and a class gene, so structure carries information across drugs.

    LN_IC50[cell, drug] = μ[drug] + β·⟨e[drug]/‖e[drug]‖, z[cell]⟩ + κ·mean_{g∈F} z[cell, g]
                          + γ[class]·z[cell, class gene] + ε
    μ[drug] = ln MAX_CONC[class] − depth[class] + δ[drug],   ε ~ N(0, noise_sd²)

where z is each landmark's basal expression standardised across the GDSC cell lines (as the
basal file states it). Cell lines of cancer type T carry half of program T in their basal
profile, so a reverser of T is far more potent on them. The expression terms are strong
against the noise (within a drug they explain ~90% of the variance at tiny scale), so a
model using expression can beat each drug's mean even with 40 cell lines. The truth records,
per drug, its LINCS compound and every gene weight but the class gene's (``sensitivity``:
the fitness module first, then the addiction weights), so the per-drug linear model is known
exactly. A network that learned in pretraining which genes a structure moves has a head
start: it sees that twins act alike and which program a drug reverses, which a model of the
GDSC pairs alone must find per drug from a few dozen cell lines. STRING gets
high-confidence (> 900) edges inside each cancer program and within the fitness module,
plus random low-score edges. Seed 003's MoA groups: GDSC annotates a reverser with its LINCS
mechanism, which the reversers of one cancer type share with their L1000 effect, so the
pretrained network gives them alike condition vectors and their attention maps share a part
no other drug has (``moa_groups`` in the truth: pathway -> drugs); every other drug carries its
structure class's target and pathway (``CLASS_TARGETS``). A few drugs carry an invalid SMILES, recorded in the truth, so
the pipeline's exclusion of unparsable structures is testable.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.fileio import atomic_path, atomic_write_text
from l1k_assets.response.reversal import CANCER_TYPE_COHORTS
from l1k_assets.sources.layout import (
    GDSC_COMPOUNDS_FILE,
    GDSC_EXPRESSION_FILE,
    GDSC_RESPONSE_FILE,
    GDSC_SMILES_FILE,
    gdsc_url,
    string_url,
)
from l1k_assets.synthetic.chemistry import SCAFFOLDS, make_molecules
from l1k_assets.synthetic.gzipped import write_gz_text
from l1k_assets.synthetic.lincs_writer import distinct_ints, table_text
from l1k_assets.synthetic.tcga_writer import BasalModel, write_tcga_hub
from l1k_assets.synthetic.universe import PROGRAM_PATHWAYS, Universe

RESPONSE_COLUMNS = [
    "DATASET",
    "NLME_RESULT_ID",
    "NLME_CURVE_ID",
    "COSMIC_ID",
    "CELL_LINE_NAME",
    "SANGER_MODEL_ID",
    "TCGA_DESC",
    "DRUG_ID",
    "DRUG_NAME",
    "PUTATIVE_TARGET",
    "PATHWAY_NAME",
    "COMPANY_ID",
    "WEBRELEASE",
    "MIN_CONC",
    "MAX_CONC",
    "LN_IC50",
    "AUC",
    "RMSE",
    "Z_SCORE",
]
# GDSC's TCGA label for each planted cancer type (its cohort; GDSC labels colon and rectum lines together),
# plus labels with no planted program.
TCGA_DESC = {**CANCER_TYPE_COHORTS, "COAD": "COAD/READ"}
OTHER_TCGA = ("SKCM", "OV", "GBM", "UNCLASSIFIED")
CELL_NAME_PREFIXES = ("NCI-H", "HCC", "SW", "KM", "SNU-", "CAL-", "OVCAR-", "HT-", "LS", "COLO-")
# Target and GDSC pathway of each structure class: one mechanism per scaffold, as drug classes go.
CLASS_TARGETS = {
    "quinazoline": ("EGFR", "EGFR signaling"),
    "indole": ("Microtubule destabiliser", "Mitosis"),
    "benzimidazole": ("PARP1, PARP2", "Genome integrity"),
    "aminopyrimidine": ("CDK4, CDK6", "Cell cycle"),
    "pyridine_carboxamide": ("HDAC1, HDAC2", "Chromatin histone acetylation"),
    "piperidine_benzamide": ("PIK3CA", "PI3K/MTOR signaling"),
    "thiazole": ("BRAF", "ERK MAPK signaling"),
    "biphenyl": ("BCL2, BCL-XL", "Apoptosis regulation"),
}
NAME_STEMS = ("Ala", "Bexa", "Cora", "Dema", "Elo", "Fira", "Gala", "Hexo")
NAME_MIDDLES = ("ci", "ra", "to", "vi", "mo")
NAME_SUFFIXES = ("tinib", "lisib", "parib", "ciclib", "rafenib", "stat")
SCAFFOLD_ORDER = {name: k for k, name in enumerate(SCAFFOLDS)}  # picks each class's name suffix
INVALID_SMILES_EDITS = ("{})", "[Xx]{}", "F(F)(F){}")  # unbalanced branch, unknown element, trivalent fluorine

# The random stream lincs_writer.pert_info draws the LINCS structures from: replaying it gives
# each LINCS compound's molecule and structure class (a test checks the SMILES agree).
LINCS_STRUCTURES_STREAM = "lincs_structures"
SCREENING_CONCS_UM = (1.0, 2.0, 5.0, 10.0)

MEASURED_FRACTION = 0.85
FITNESS_GENES = 5
FITNESS_LOADING = 0.9  # log2 shift of the module per sd of proliferation, against BASAL_CELL_SD of gene noise
FITNESS_COEFFICIENT = 1.2
ADDICTION_COEFFICIENT = 0.8
CLASS_DEPTH = (1.0, 2.5)  # ln MAX_CONC − μ: how far inside the screening range a class's IC50 sits
DRUG_POTENCY_SD = 0.3
RESPONSE_NOISE_SD = 0.5
BASAL_CELL_SD = 0.7
BASAL_PROGRAM_SCALE = 0.5
STRING_PROGRAM_EDGE_P = 0.5
STRING_RANDOM_EDGES_PER_GENE = 4
ZIP_DATE = (2017, 4, 26, 0, 0, 0)


def gdsc_cell_lines(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """GDSC-like cell lines: COSMIC id, name, Sanger model id, TCGA label and planted cancer type ('' if none)."""
    types = list(TCGA_DESC)
    planted = rng.random(n) < 0.8
    ctype = np.where(planted, rng.choice(types, n), "")
    tcga = np.where(planted, [TCGA_DESC.get(t, "") for t in ctype], rng.choice(OTHER_TCGA, n))
    names = distinct_ints(rng, 0, len(CELL_NAME_PREFIXES) * 999, n)
    return pd.DataFrame(
        {
            "COSMIC_ID": np.sort(distinct_ints(rng, 683_000, 1_790_000, n)),
            "CELL_LINE_NAME": [f"{CELL_NAME_PREFIXES[k // 999]}{k % 999 + 1}" for k in names],
            "SANGER_MODEL_ID": [f"SIDM{k:05d}" for k in distinct_ints(rng, 1, 2000, n)],
            "TCGA_DESC": tcga,
            "cancer_type": ctype,
        }
    )


def screened_compounds(universe: Universe, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """The LINCS compounds GDSC screens: reversers of a cancer program first, then near-inert ones.

    Reversers come by cancer type, both of a type together, so most screened drugs have a
    twin of another structure with the same L1000 effect: only pretraining can tell that
    they act alike. Promiscuous compounds are left out: their broad L1000 effect would make
    them general cytotoxics, which the fitness factor already stands for. Columns: pert_id,
    smiles, structure_class, reverses (cancer type or ""), pubchem_cid (as LINCS lists it).
    """
    cp = universe.compounds
    stream = universe.rng(LINCS_STRUCTURES_STREAM)
    molecules = make_molecules(len(cp), stream)
    cids = distinct_ints(stream, 100_000, 90_000_000, len(cp))  # lincs_writer.pert_info's next draw: the PubChem ids
    types = rng.permutation(sorted(set(cp.reverses) - {""}))
    reversers = np.concatenate([np.flatnonzero(cp.reverses.to_numpy() == t) for t in types])
    inert = rng.permutation(np.flatnonzero((cp.reverses.to_numpy() == "") & ~cp.promiscuous.to_numpy()))
    pool = np.concatenate([reversers, inert])
    if n > len(pool):
        raise DataError(f"{n} GDSC drugs wanted but the LINCS panel has only {len(pool)} non-promiscuous compounds")
    chosen = rng.permutation(pool[:n])
    return pd.DataFrame(
        {
            "pert_id": cp.pert_id.to_numpy()[chosen],
            "smiles": [molecules[i].smiles for i in chosen],
            "structure_class": [molecules[i].structure_class for i in chosen],
            "reverses": cp.reverses.to_numpy()[chosen],
            "pubchem_cid": cids[chosen],
        }
    )


def reverser_pathway(cancer_type: str) -> str:
    """GDSC's pathway name for the reversers of a cancer type: their program's pathway, e.g. "Wnt beta catenin signaling"."""
    return PROGRAM_PATHWAYS[cancer_type].split("_", 1)[1].replace("_", " ").capitalize()


def gdsc_drugs(universe: Universe, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """GDSC-like drugs: LINCS compounds with a target and pathway, screening range and potency (μ) per class.

    A reverser's target and pathway are its LINCS mechanism (reversers of one cancer type share
    it, and their L1000 effect); every other drug has its structure class's.
    """
    screened = screened_compounds(universe, n, rng)
    classes = screened.structure_class.tolist()
    lincs_moa = universe.compounds.set_index("pert_id").moa
    mechanisms = [
        (lincs_moa[pert], reverser_pathway(ctype)) if ctype else CLASS_TARGETS[c]
        for pert, ctype, c in zip(screened.pert_id, screened.reverses, classes, strict=True)
    ]
    n_stems = len(NAME_STEMS)
    n_unique = n_stems * len(NAME_MIDDLES)  # stem × middle pairs; later names get a number
    names = [
        f"{NAME_STEMS[i % n_stems]}{NAME_MIDDLES[(i // n_stems) % len(NAME_MIDDLES)]}"
        + NAME_SUFFIXES[SCAFFOLD_ORDER[c] % len(NAME_SUFFIXES)]
        + (f"-{i // n_unique + 1}" if i >= n_unique else "")
        for i, c in enumerate(classes)
    ]
    class_conc = dict(zip(SCAFFOLDS, rng.choice(SCREENING_CONCS_UM, len(SCAFFOLDS)), strict=True))
    class_depth = dict(zip(SCAFFOLDS, rng.uniform(*CLASS_DEPTH, len(SCAFFOLDS)), strict=True))
    max_conc = np.array([class_conc[c] for c in classes])
    potency = np.log(max_conc) - np.array([class_depth[c] for c in classes]) + rng.normal(0.0, DRUG_POTENCY_SD, n)
    return pd.DataFrame(
        {
            "DRUG_ID": np.sort(distinct_ints(rng, 1000, 2200, n)),
            "DRUG_NAME": names,
            "SYNONYMS": [f"SYN-{k}" for k in rng.integers(100, 9999, n)],
            "TARGET": [target for target, _ in mechanisms],
            "TARGET_PATHWAY": [pathway for _, pathway in mechanisms],
            "PUBCHEM_CID": screened.pubchem_cid.to_numpy(),  # LINCS's, so the two resources join as real ones do
            "SMILES": screened.smiles.to_numpy(),
            "structure_class": classes,
            "MAX_CONC": max_conc,
            "mean_ln_ic50": potency,
            "pert_id": screened.pert_id.to_numpy(),
            "reverses": screened.reverses.to_numpy(),
        }
    )


def fitness_module(universe: Universe, rng: np.random.Generator) -> list[str]:
    """The proliferation module: landmarks outside every cancer program, co-expressed across cell lines."""
    landmarks = pd.Index(universe.landmarks)
    in_program = landmarks.isin(np.concatenate([p.index.to_numpy() for p in universe.programs.values()]))
    return sorted(rng.choice(landmarks[~in_program], FITNESS_GENES, replace=False).tolist())


def basal_expression(universe: Universe, cells: pd.DataFrame, fitness_genes: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Genes (symbols) × cell lines (COSMIC ids) of RMA-like log2 values, rounded as the file stores them.

    Cell lines of a planted cancer type carry half of that type's tumor program; every line
    has a proliferation rate that moves the fitness module's genes together.
    """
    symbols = universe.genes.pr_gene_symbol.to_numpy()
    values = rng.uniform(4.0, 11.0, (len(symbols), 1)) + rng.normal(0.0, BASAL_CELL_SD, (len(symbols), len(cells)))
    position = pd.Index(symbols)
    for ctype, program in universe.programs.items():
        members = (cells.cancer_type == ctype).to_numpy()
        values[np.ix_(position.get_indexer(program.index), members)] += BASAL_PROGRAM_SCALE * program.to_numpy()[:, None]
    values[position.get_indexer(fitness_genes)] += FITNESS_LOADING * rng.normal(0.0, 1.0, len(cells))
    return pd.DataFrame(np.round(values, 6), index=symbols, columns=cells.COSMIC_ID.to_numpy())


def standardised(basal: pd.DataFrame) -> pd.DataFrame:
    """Cell lines × genes z-scores across cell lines (population sd): the scale the planted weights act on."""
    values = basal.T
    return (values - values.mean()) / values.std(ddof=0)


@dataclass(frozen=True)
class PlantedResponse:
    """The planted linear response: per drug its gene weights, per class its gene and coefficient."""

    weights: pd.DataFrame  # drugs (DRUG_ID) × landmarks: the fitness and addiction terms
    fitness_genes: list[str]
    class_genes: dict[str, tuple[str, float]]

    def sensitivity(self) -> dict[int, dict[str, float]]:
        """Per drug, every gene with a weight, the fitness module (STRING-linked) first."""
        out = {}
        for drug_id, row in self.weights.iterrows():
            rest = [g for g in row.index[row.to_numpy() != 0] if g not in self.fitness_genes]
            out[int(drug_id)] = {g: round(float(row[g]), 4) for g in [*self.fitness_genes, *rest]}
        return out

    def all_weights(self, drugs: pd.DataFrame) -> np.ndarray:
        """Drugs × landmarks weights including the class genes, in ``drugs``' row order."""
        total = self.weights.loc[drugs.DRUG_ID].to_numpy().copy()
        position = self.weights.columns
        for k, structure_class in enumerate(drugs.structure_class):
            gene, gamma = self.class_genes[structure_class]
            total[k, position.get_loc(gene)] += gamma
        return total


def plant_sensitivity(
    universe: Universe, drugs: pd.DataFrame, fitness_genes: list[str], rng: np.random.Generator
) -> PlantedResponse:
    """The fitness module for every drug, addiction along each reverser's LINCS effect, a gene per structure class."""
    landmarks = pd.Index(universe.landmarks)
    weights = pd.DataFrame(0.0, index=drugs.DRUG_ID.astype(int).to_numpy(), columns=landmarks)
    weights[fitness_genes] += FITNESS_COEFFICIENT / len(fitness_genes)  # the module's mean z
    for drug_id, ctype in zip(drugs.DRUG_ID.astype(int), drugs.reverses, strict=True):
        if ctype:
            effect = -universe.programs[ctype]  # the reverser's L1000 shift (lincs_writer.compound_effects)
            weights.loc[drug_id, effect.index] += ADDICTION_COEFFICIENT * effect / np.linalg.norm(effect)
    class_genes = {
        c: (str(rng.choice(landmarks)), round(float(rng.uniform(0.5, 0.9) * rng.choice([-1.0, 1.0])), 3)) for c in SCAFFOLDS
    }
    return PlantedResponse(weights, fitness_genes, class_genes)


def _auc(ln_ic50: np.ndarray, slope: np.ndarray, min_conc: np.ndarray, max_conc: np.ndarray) -> np.ndarray:
    """Area under the fitted viability curve 1 / (1 + exp(slope·(x − ln IC50))) over the log range, normalised to [0, 1]."""
    lo, hi = np.log(min_conc), np.log(max_conc)
    integral = (hi - lo) - (np.logaddexp(0.0, slope * (hi - ln_ic50)) - np.logaddexp(0.0, slope * (lo - ln_ic50))) / slope
    return integral / (hi - lo)


def response_table(
    cells: pd.DataFrame, drugs: pd.DataFrame, z: pd.DataFrame, planted: PlantedResponse, rng: np.random.Generator
) -> pd.DataFrame:
    """The fitted dose-response table over the measured (drug, cell line) pairs, with GDSC's columns."""
    d_idx, c_idx = (a.ravel() for a in np.meshgrid(np.arange(len(drugs)), np.arange(len(cells)), indexing="ij"))
    keep = rng.random(len(d_idx)) < MEASURED_FRACTION
    d_idx, c_idx = d_idx[keep], c_idx[keep]
    z_values = z[planted.weights.columns].to_numpy()
    weights = planted.all_weights(drugs)
    max_conc = drugs.MAX_CONC.to_numpy()
    mean = drugs.mean_ln_ic50.to_numpy()
    ln_ic50 = (
        mean[d_idx] + np.einsum("ij,ij->i", weights[d_idx], z_values[c_idx]) + rng.normal(0.0, RESPONSE_NOISE_SD, len(d_idx))
    )
    min_conc = max_conc / 1000.0
    slope = rng.uniform(1.0, 2.0, len(drugs))
    table = pd.DataFrame(
        {
            "DATASET": "GDSC2",
            "NLME_RESULT_ID": 343,
            "NLME_CURVE_ID": 15_946_310 + np.arange(len(d_idx)),
            "COSMIC_ID": cells.COSMIC_ID.to_numpy()[c_idx],
            "CELL_LINE_NAME": cells.CELL_LINE_NAME.to_numpy()[c_idx],
            "SANGER_MODEL_ID": cells.SANGER_MODEL_ID.to_numpy()[c_idx],
            "TCGA_DESC": cells.TCGA_DESC.to_numpy()[c_idx],
            "DRUG_ID": drugs.DRUG_ID.to_numpy()[d_idx],
            "DRUG_NAME": drugs.DRUG_NAME.to_numpy()[d_idx],
            "PUTATIVE_TARGET": drugs.TARGET.to_numpy()[d_idx],
            "PATHWAY_NAME": drugs.TARGET_PATHWAY.to_numpy()[d_idx],
            "COMPANY_ID": 1046,
            "WEBRELEASE": "Y",
            "MIN_CONC": min_conc[d_idx],
            "MAX_CONC": max_conc[d_idx],
            "LN_IC50": np.round(ln_ic50, 6),
            "AUC": np.round(_auc(ln_ic50, slope[d_idx], min_conc[d_idx], max_conc[d_idx]), 6),
            "RMSE": np.round(rng.uniform(0.02, 0.2, len(d_idx)), 6),
        }
    )
    by_drug = table.groupby("DRUG_ID").LN_IC50
    table["Z_SCORE"] = np.round((table.LN_IC50 - by_drug.transform("mean")) / by_drug.transform("std"), 6)
    return table[RESPONSE_COLUMNS]


def corrupt_smiles(drugs: pd.DataFrame, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """SMILES with a few made unparsable (syntax or valence errors), and the DRUG_IDs that were."""
    smiles = drugs.SMILES.tolist()
    bad = sorted(rng.choice(len(drugs), max(2, len(drugs) // 15), replace=False).tolist())
    for k, row in enumerate(bad):
        smiles[row] = INVALID_SMILES_EDITS[k % len(INVALID_SMILES_EDITS)].format(smiles[row])
    return smiles, [int(drugs.DRUG_ID.iloc[row]) for row in bad]


def write_basal_zip(dest: Path, basal: pd.DataFrame, titles: np.ndarray) -> None:
    """GDSC's basal expression zip: one tab-separated member, GENE_SYMBOLS, GENE_title, then DATA.<COSMIC_ID>."""
    table = basal.set_axis([f"DATA.{c}" for c in basal.columns], axis=1)
    table.insert(0, "GENE_title", titles)
    table.insert(0, "GENE_SYMBOLS", basal.index)
    member = zipfile.ZipInfo(dest.name.removesuffix(".zip"), date_time=ZIP_DATE)
    member.compress_type = zipfile.ZIP_DEFLATED
    member.external_attr = 0o644 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, table_text(table))
    with atomic_path(dest) as tmp:
        tmp.write_bytes(buffer.getvalue())


def string_edges(universe: Universe, fitness_genes: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Undirected edges (symbol a < b, score): high confidence inside programs (half the pairs) and the
    fitness module (every pair), random low elsewhere."""
    planted = []
    for program in universe.programs.values():
        members = program.index.to_numpy()
        a, b = np.triu_indices(len(members), k=1)
        keep = rng.random(len(a)) < STRING_PROGRAM_EDGE_P
        planted.append(np.column_stack([members[a[keep]], members[b[keep]]]))
    module = np.asarray(fitness_genes)
    a, b = np.triu_indices(len(module), k=1)
    planted.append(np.column_stack([module[a], module[b]]))
    high = np.concatenate(planted)
    symbols = universe.genes.pr_gene_symbol.to_numpy()
    n_random = STRING_RANDOM_EDGES_PER_GENE * len(symbols)
    pairs = rng.integers(0, len(symbols), (n_random, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    edges = pd.DataFrame(
        {
            "a": np.concatenate([high[:, 0], symbols[pairs[:, 0]]]),
            "b": np.concatenate([high[:, 1], symbols[pairs[:, 1]]]),
            "score": np.concatenate([rng.integers(901, 1000, len(high)), rng.integers(150, 700, len(pairs))]),
        }
    )
    lo, hi = np.minimum(edges.a, edges.b), np.maximum(edges.a, edges.b)
    return edges.assign(a=lo, b=hi).groupby(["a", "b"], as_index=False).score.max()


def write_string(root: Path, universe: Universe, edges: pd.DataFrame, rng: np.random.Generator) -> None:
    """STRING's protein info (ENSP id ↔ symbol) and links (both directions, space-separated) tables."""
    genes = universe.genes
    ensp = [f"9606.ENSP{k:011d}" for k in np.sort(distinct_ints(rng, 200_000, 700_000, len(genes)))]
    info = pd.DataFrame(
        {
            "#string_protein_id": ensp,
            "preferred_name": genes.pr_gene_symbol.to_numpy(),
            "protein_size": rng.integers(100, 3000, len(genes)),
            "annotation": genes.pr_gene_title.to_numpy(),
        }
    )
    to_ensp = dict(zip(info.preferred_name, ensp, strict=True))
    forward = pd.DataFrame({"protein1": edges.a.map(to_ensp), "protein2": edges.b.map(to_ensp), "combined_score": edges.score})
    backward = forward.rename(columns={"protein1": "protein2", "protein2": "protein1"})
    links = pd.concat([forward, backward])[["protein1", "protein2", "combined_score"]].sort_values(["protein1", "protein2"])
    base = str(Path(root) / "string")
    write_gz_text(Path(string_url(base, "info")), table_text(info))
    write_gz_text(Path(string_url(base, "links")), table_text(links, sep=" "))


def write_response_sources(universe: Universe, root: Path) -> dict[str, Any]:
    """Write the GDSC and STRING files; return the planted truth for the manifest."""
    sc = universe.scale
    cells = gdsc_cell_lines(sc.n_gdsc_cell_lines, universe.rng("gdsc_cells"))
    drugs = gdsc_drugs(universe, sc.n_gdsc_drugs, universe.rng("gdsc_drugs"))
    fitness = fitness_module(universe, universe.rng("gdsc_fitness"))
    basal = basal_expression(universe, cells, fitness, universe.rng("gdsc_basal"))
    planted = plant_sensitivity(universe, drugs, fitness, universe.rng("gdsc_sensitivity"))
    responses = response_table(cells, drugs, standardised(basal), planted, universe.rng("gdsc_response"))
    smiles, invalid = corrupt_smiles(drugs, universe.rng("gdsc_smiles"))

    base = str(Path(root) / "gdsc")
    atomic_write_text(Path(gdsc_url(base, GDSC_RESPONSE_FILE)), table_text(responses, sep=","))
    screened = drugs.assign(SCREENING_SITE="SANGER")[
        ["DRUG_ID", "SCREENING_SITE", "DRUG_NAME", "SYNONYMS", "TARGET", "TARGET_PATHWAY"]
    ]
    atomic_write_text(Path(gdsc_url(base, GDSC_COMPOUNDS_FILE)), table_text(screened, sep=","))
    structures = drugs.assign(SMILES=smiles)[["DRUG_ID", "DRUG_NAME", "PUBCHEM_CID", "SMILES"]]
    atomic_write_text(Path(gdsc_url(base, GDSC_SMILES_FILE)), table_text(structures, sep=","))
    write_basal_zip(Path(gdsc_url(base, GDSC_EXPRESSION_FILE)), basal, universe.genes.pr_gene_title.to_numpy())

    edges = string_edges(universe, fitness, universe.rng("string_edges"))
    write_string(root, universe, edges, universe.rng("string_ids"))
    model = BasalModel(basal, fitness, BASAL_CELL_SD, BASAL_PROGRAM_SCALE, FITNESS_LOADING)
    landmarks = list(planted.weights.columns)
    usable = drugs.assign(usable=~drugs.DRUG_ID.isin(invalid))
    tcga = write_tcga_hub(universe, root, cells, usable, model, planted.all_weights(drugs), landmarks)
    return {
        "gdsc": {
            "n_cell_lines": len(cells),
            "n_drugs": len(drugs),
            "n_measured": len(responses),
            "noise_sd": RESPONSE_NOISE_SD,
            "expression_scale": "per-gene z-score of the basal file's values across the GDSC cell lines (population sd)",
            "formula": "LN_IC50 = mu[drug] + sum_g sensitivity[drug][g]*z[cell,g] + class coefficient*z[cell,class gene] + noise",
            "sensitivity": {str(d): genes for d, genes in planted.sensitivity().items()},
            "fitness_genes": planted.fitness_genes,
            "fitness_coefficient": FITNESS_COEFFICIENT,
            "addiction_coefficient": ADDICTION_COEFFICIENT,
            "mean_ln_ic50": {str(d): round(float(m), 4) for d, m in zip(drugs.DRUG_ID, drugs.mean_ln_ic50, strict=True)},
            "lincs_compounds": {str(d): p for d, p in zip(drugs.DRUG_ID, drugs.pert_id, strict=True)},
            "reverses": {str(d): r for d, r in zip(drugs.DRUG_ID, drugs.reverses, strict=True) if r},
            "drug_classes": {str(d): c for d, c in zip(drugs.DRUG_ID, drugs.structure_class, strict=True)},
            "class_genes": {c: {"gene": g, "coefficient": w} for c, (g, w) in planted.class_genes.items()},
            "moa_groups": {k: [str(d) for d in g.DRUG_ID] for k, g in drugs.groupby("TARGET_PATHWAY")},
        },
        "string": {"n_edges": len(edges), "high_confidence_edges": int((edges.score > 900).sum())},
        "invalid_smiles": invalid,
        "tcga": tcga,
    }
