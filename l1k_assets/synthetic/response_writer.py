"""The embedded default's drug-response sources: GDSC-like screens and basal expression, STRING-like PPI.

CSG2A fine-tunes on GDSC log IC50 from basal expression, compound structure and a STRING
prior. The files copy GDSC release 8.5's and STRING v12's names and columns; the content plants
a response the tests (and the benchmark) can check a model recovers:

    LN_IC50[cell, drug] = mean[drug] + Σ_g w[drug, g]·z[cell, g] + γ[class]·z[cell, class gene] + noise

where z is each landmark's basal expression standardised across the GDSC cell lines (as the
basal file states it), g runs over a few *sensitivity genes* per drug and the class term is
shared by all drugs of one structure class (the scaffold of its SMILES), so structure carries
information across drugs. A model using expression must beat the per-drug mean by far. STRING
gets high-confidence (> 900) edges inside each cancer program and among each drug's
sensitivity genes, plus random low-score edges. A few drugs carry an invalid SMILES, recorded
in the truth, so the pipeline's exclusion of unparsable structures is testable.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.fileio import atomic_path, atomic_write_text
from l1k_assets.sources.layout import (
    GDSC_COMPOUNDS_FILE,
    GDSC_EXPRESSION_FILE,
    GDSC_RESPONSE_FILE,
    GDSC_SMILES_FILE,
    gdsc_url,
    string_url,
)
from l1k_assets.synthetic.chemistry import SCAFFOLDS, make_molecules
from l1k_assets.synthetic.lincs_writer import distinct_ints, table_text, write_gz_text
from l1k_assets.synthetic.universe import Universe

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
# GDSC's TCGA label for each planted cancer type, plus labels with no planted program.
TCGA_DESC = {
    "BRCA": "BRCA",
    "COAD": "COAD/READ",
    "ESCC": "ESCA",
    "HNSC": "HNSC",
    "KIRC": "KIRC",
    "LIHC": "LIHC",
    "LUAD": "LUAD",
    "STAD": "STAD",
    "THCA": "THCA",
}
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

MEASURED_FRACTION = 0.85
SENSITIVITY_GENES = 3
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


def gdsc_drugs(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """GDSC-like drugs with a structure (SMILES and its scaffold class), target and pathway."""
    molecules = make_molecules(n, rng)
    classes = [m.structure_class for m in molecules]
    n_stems = len(NAME_STEMS)
    n_unique = n_stems * len(NAME_MIDDLES)  # stem × middle pairs; later names get a number
    names = [
        f"{NAME_STEMS[i % n_stems]}{NAME_MIDDLES[(i // n_stems) % len(NAME_MIDDLES)]}"
        + NAME_SUFFIXES[SCAFFOLD_ORDER[c] % len(NAME_SUFFIXES)]
        + (f"-{i // n_unique + 1}" if i >= n_unique else "")
        for i, c in enumerate(classes)
    ]
    return pd.DataFrame(
        {
            "DRUG_ID": np.sort(distinct_ints(rng, 1000, 2200, n)),
            "DRUG_NAME": names,
            "SYNONYMS": [f"SYN-{k}" for k in rng.integers(100, 9999, n)],
            "TARGET": [CLASS_TARGETS[c][0] for c in classes],
            "TARGET_PATHWAY": [CLASS_TARGETS[c][1] for c in classes],
            "PUBCHEM_CID": distinct_ints(rng, 100_000, 90_000_000, n),
            "SMILES": [m.smiles for m in molecules],
            "structure_class": classes,
            "MAX_CONC": rng.choice([0.1, 1.0, 2.0, 5.0, 10.0], n),
        }
    )


def basal_expression(universe: Universe, cells: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Genes (symbols) × cell lines (COSMIC ids) of RMA-like log2 values, rounded as the file stores them.

    Cell lines of a planted cancer type carry half of that type's tumor program.
    """
    symbols = universe.genes.pr_gene_symbol.to_numpy()
    values = rng.uniform(4.0, 11.0, (len(symbols), 1)) + rng.normal(0.0, BASAL_CELL_SD, (len(symbols), len(cells)))
    position = pd.Index(symbols)
    for ctype, program in universe.programs.items():
        members = (cells.cancer_type == ctype).to_numpy()
        values[np.ix_(position.get_indexer(program.index), members)] += BASAL_PROGRAM_SCALE * program.to_numpy()[:, None]
    return pd.DataFrame(np.round(values, 6), index=symbols, columns=cells.COSMIC_ID.to_numpy())


def standardised(basal: pd.DataFrame) -> pd.DataFrame:
    """Cell lines × genes z-scores across cell lines (population sd): the scale the planted weights act on."""
    values = basal.T
    return (values - values.mean()) / values.std(ddof=0)


def plant_sensitivity(
    universe: Universe, drugs: pd.DataFrame, rng: np.random.Generator
) -> tuple[dict[int, dict[str, float]], dict[str, tuple[str, float]]]:
    """Per drug, its sensitivity landmarks with weights; per structure class, its gene and coefficient."""
    landmarks = np.asarray(universe.landmarks)
    per_drug = {}
    for drug_id in drugs.DRUG_ID:
        genes = rng.choice(landmarks, SENSITIVITY_GENES, replace=False)
        weights = rng.uniform(0.6, 1.1, SENSITIVITY_GENES) * rng.choice([-1.0, 1.0], SENSITIVITY_GENES)
        per_drug[int(drug_id)] = {g: round(float(w), 3) for g, w in zip(genes, weights, strict=True)}
    per_class = {
        c: (str(rng.choice(landmarks)), round(float(rng.uniform(0.5, 0.9) * rng.choice([-1.0, 1.0])), 3)) for c in SCAFFOLDS
    }
    return per_drug, per_class


def _auc(ln_ic50: np.ndarray, slope: np.ndarray, min_conc: np.ndarray, max_conc: np.ndarray) -> np.ndarray:
    """Area under the fitted viability curve 1 / (1 + exp(slope·(x − ln IC50))) over the log range, normalised to [0, 1]."""
    lo, hi = np.log(min_conc), np.log(max_conc)
    integral = (hi - lo) - (np.logaddexp(0.0, slope * (hi - ln_ic50)) - np.logaddexp(0.0, slope * (lo - ln_ic50))) / slope
    return integral / (hi - lo)


def response_table(
    cells: pd.DataFrame,
    drugs: pd.DataFrame,
    z: pd.DataFrame,
    sensitivity: dict[int, dict[str, float]],
    class_genes: dict[str, tuple[str, float]],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The fitted dose-response table over the measured (drug, cell line) pairs, with GDSC's columns."""
    d_idx, c_idx = (a.ravel() for a in np.meshgrid(np.arange(len(drugs)), np.arange(len(cells)), indexing="ij"))
    keep = rng.random(len(d_idx)) < MEASURED_FRACTION
    d_idx, c_idx = d_idx[keep], c_idx[keep]
    z_values = z.to_numpy()
    gene_pos = pd.Index(z.columns)
    weights = np.zeros((len(drugs), z.shape[1]))
    for k, (drug_id, structure_class) in enumerate(zip(drugs.DRUG_ID, drugs.structure_class, strict=True)):
        genes = sensitivity[int(drug_id)]
        weights[k, gene_pos.get_indexer(list(genes))] += list(genes.values())
        class_gene, gamma = class_genes[structure_class]
        weights[k, gene_pos.get_loc(class_gene)] += gamma
    max_conc = drugs.MAX_CONC.to_numpy()
    mean = np.log(max_conc) - rng.uniform(0.5, 3.0, len(drugs))
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


def string_edges(universe: Universe, sensitivity: dict[int, dict[str, float]], rng: np.random.Generator) -> pd.DataFrame:
    """Undirected edges (symbol a < b, score): high confidence inside programs and sensitivity sets, random low elsewhere."""
    groups = [program.index.to_numpy() for program in universe.programs.values()]
    planted = []
    for members in groups:
        a, b = np.triu_indices(len(members), k=1)
        keep = rng.random(len(a)) < STRING_PROGRAM_EDGE_P
        planted.append(np.column_stack([members[a[keep]], members[b[keep]]]))
    for genes in sensitivity.values():
        members = np.asarray(list(genes))
        a, b = np.triu_indices(len(members), k=1)
        planted.append(np.column_stack([members[a], members[b]]))
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
    drugs = gdsc_drugs(sc.n_gdsc_drugs, universe.rng("gdsc_drugs"))
    basal = basal_expression(universe, cells, universe.rng("gdsc_basal"))
    sensitivity, class_genes = plant_sensitivity(universe, drugs, universe.rng("gdsc_sensitivity"))
    responses = response_table(cells, drugs, standardised(basal), sensitivity, class_genes, universe.rng("gdsc_response"))
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

    edges = string_edges(universe, sensitivity, universe.rng("string_edges"))
    write_string(root, universe, edges, universe.rng("string_ids"))
    return {
        "gdsc": {
            "n_cell_lines": len(cells),
            "n_drugs": len(drugs),
            "n_measured": len(responses),
            "noise_sd": RESPONSE_NOISE_SD,
            "expression_scale": "per-gene z-score of the basal file's values across the GDSC cell lines (population sd)",
            "sensitivity": {str(d): genes for d, genes in sensitivity.items()},
            "drug_classes": {str(d): c for d, c in zip(drugs.DRUG_ID, drugs.structure_class, strict=True)},
            "class_genes": {c: {"gene": g, "coefficient": w} for c, (g, w) in class_genes.items()},
        },
        "string": {"n_edges": len(edges), "high_confidence_edges": int((edges.score > 900).sum())},
        "invalid_smiles": invalid,
    }
