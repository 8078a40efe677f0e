"""Synthetic MSigDB-style gene-set libraries (GMT) in which each cancer type's program is one pathway.

Enrichment of a tumor signature, or of the genes a compound reverses, can only be checked
against a known answer if the answer is in the library: each program pathway holds its
program's landmark genes plus unaffected genes (real pathways are mostly not differentially
expressed), among real-named decoy sets of random genes. The files use MSigDB's 2023.2 names
and GMT layout so that the same loader reads them and the real downloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from l1k_assets.errors import DataError
from l1k_assets.fileio import atomic_write_text
from l1k_assets.sources.layout import DEFAULT_GENE_SET_FILES, msigdb_url
from l1k_assets.synthetic.universe import PROGRAM_PATHWAYS, Universe

GENESET_URL = "https://www.gsea-msigdb.org/gsea/msigdb/human/geneset/"
PROGRAM_SET_SIZE = (30, 200)  # total genes of a program pathway, as real pathways range
DECOY_MIN_SIZE = 15

_HALLMARKS = [
    "ADIPOGENESIS",
    "ALLOGRAFT_REJECTION",
    "ANDROGEN_RESPONSE",
    "ANGIOGENESIS",
    "APICAL_JUNCTION",
    "APICAL_SURFACE",
    "APOPTOSIS",
    "BILE_ACID_METABOLISM",
    "CHOLESTEROL_HOMEOSTASIS",
    "COAGULATION",
    "COMPLEMENT",
    "DNA_REPAIR",
    "E2F_TARGETS",
    "EPITHELIAL_MESENCHYMAL_TRANSITION",
    "ESTROGEN_RESPONSE_EARLY",
    "ESTROGEN_RESPONSE_LATE",
    "FATTY_ACID_METABOLISM",
    "G2M_CHECKPOINT",
    "GLYCOLYSIS",
    "HEDGEHOG_SIGNALING",
    "HEME_METABOLISM",
    "HYPOXIA",
    "IL2_STAT5_SIGNALING",
    "IL6_JAK_STAT3_SIGNALING",
    "INFLAMMATORY_RESPONSE",
    "INTERFERON_ALPHA_RESPONSE",
    "INTERFERON_GAMMA_RESPONSE",
    "KRAS_SIGNALING_DN",
    "KRAS_SIGNALING_UP",
    "MITOTIC_SPINDLE",
    "MTORC1_SIGNALING",
    "MYC_TARGETS_V1",
    "MYC_TARGETS_V2",
    "MYOGENESIS",
    "NOTCH_SIGNALING",
    "OXIDATIVE_PHOSPHORYLATION",
    "P53_PATHWAY",
    "PANCREAS_BETA_CELLS",
    "PEROXISOME",
    "PI3K_AKT_MTOR_SIGNALING",
    "PROTEIN_SECRETION",
    "REACTIVE_OXYGEN_SPECIES_PATHWAY",
    "SPERMATOGENESIS",
    "TGF_BETA_SIGNALING",
    "TNFA_SIGNALING_VIA_NFKB",
    "UNFOLDED_PROTEIN_RESPONSE",
    "UV_RESPONSE_DN",
    "UV_RESPONSE_UP",
    "WNT_BETA_CATENIN_SIGNALING",
    "XENOBIOTIC_METABOLISM",
]
_KEGG_SIGNALING = [
    "MAPK",
    "ERBB",
    "WNT",
    "NOTCH",
    "HEDGEHOG",
    "TGF_BETA",
    "VEGF",
    "JAK_STAT",
    "MTOR",
    "INSULIN",
    "CALCIUM",
    "PPAR",
    "CHEMOKINE",
    "P53",
    "TOLL_LIKE_RECEPTOR",
    "NOD_LIKE_RECEPTOR",
    "T_CELL_RECEPTOR",
    "B_CELL_RECEPTOR",
    "GNRH",
    "ADIPOCYTOKINE",
]
_KEGG_METABOLISM = [
    "PURINE",
    "PYRIMIDINE",
    "GLUTATHIONE",
    "TRYPTOPHAN",
    "TYROSINE",
    "GALACTOSE",
    "PYRUVATE",
    "PROPANOATE",
    "BUTANOATE",
    "HISTIDINE",
    "RETINOL",
    "NITROGEN",
    "SULFUR",
    "STARCH_AND_SUCROSE",
    "FRUCTOSE_AND_MANNOSE",
    "ARACHIDONIC_ACID",
    "LINOLEIC_ACID",
    "SELENOAMINO_ACID",
    "TAURINE_AND_HYPOTAURINE",
    "BETA_ALANINE",
]
_REACTOME_SIGNALING = [
    "WNT",
    "NOTCH",
    "HEDGEHOG",
    "TGF_BETA_RECEPTOR_COMPLEX",
    "EGFR",
    "ERBB2",
    "ERBB4",
    "FGFR",
    "MET",
    "NTRKS",
    "PDGF",
    "VEGF",
    "INSULIN_RECEPTOR",
    "NUCLEAR_RECEPTORS",
    "RETINOIC_ACID",
    "HIPPO",
    "ROBO_RECEPTORS",
    "INTERLEUKINS",
    "BMP",
    "LEPTIN",
]
_REACTOME_PROCESSES = [
    "CELL_CYCLE_CHECKPOINTS",
    "DNA_REPAIR",
    "APOPTOSIS",
    "TRANSLATION",
    "MRNA_SPLICING",
    "HEMOSTASIS",
    "NEURONAL_SYSTEM",
    "MUSCLE_CONTRACTION",
    "DEVELOPMENTAL_BIOLOGY",
    "INNATE_IMMUNE_SYSTEM",
    "ADAPTIVE_IMMUNE_SYSTEM",
    "EXTRACELLULAR_MATRIX_ORGANIZATION",
    "CELLULAR_RESPONSES_TO_STRESS",
    "CHROMATIN_ORGANIZATION",
    "DNA_REPLICATION",
    "PROGRAMMED_CELL_DEATH",
    "AUTOPHAGY",
    "VESICLE_MEDIATED_TRANSPORT",
    "CIRCADIAN_CLOCK",
    "METABOLISM_OF_LIPIDS",
]

# Library file -> (name prefix of its sets, decoy set names); program pathways join by prefix.
LIBRARIES = {
    DEFAULT_GENE_SET_FILES[0]: ("HALLMARK_", [f"HALLMARK_{n}" for n in _HALLMARKS]),
    DEFAULT_GENE_SET_FILES[1]: (
        "KEGG_",
        [f"KEGG_{n}_SIGNALING_PATHWAY" for n in _KEGG_SIGNALING] + [f"KEGG_{n}_METABOLISM" for n in _KEGG_METABOLISM],
    ),
    DEFAULT_GENE_SET_FILES[2]: (
        "REACTOME_",
        [f"REACTOME_SIGNALING_BY_{n}" for n in _REACTOME_SIGNALING] + [f"REACTOME_{n}" for n in _REACTOME_PROCESSES],
    ),
}


def write_gene_sets(universe: Universe, root: Path) -> dict[str, Any]:
    """Write the three GMT libraries under ``root/genesets``; return their paths and each type's program set."""
    root = Path(root)
    rng = universe.rng("genesets")
    sets = _program_sets(universe, rng)
    files: list[str] = []
    for filename, (prefix, decoys) in LIBRARIES.items():
        library = {name: genes for name, genes in sets.items() if name.startswith(prefix)}
        for name in decoys:
            if name not in library:
                library[name] = _decoy_genes(universe, rng)
        path = Path(msigdb_url(str(root / "genesets"), filename))
        atomic_write_text(path, _gmt_text(library))
        files.append(path.relative_to(root).as_posix())
    return {"files": files, "program_sets": {ctype: PROGRAM_PATHWAYS[ctype] for ctype in sorted(universe.programs)}}


def _program_sets(universe: Universe, rng: np.random.Generator) -> dict[str, list[str]]:
    """Each program pathway: the program's landmark genes plus unaffected non-landmark genes, shuffled.

    The filler comes from non-landmark genes so that, measured on landmarks, the pathway is
    exactly its program, while on the full transcriptome it looks like a real, diluted pathway.
    """
    prefixes = tuple(prefix for prefix, _ in LIBRARIES.values())
    unknown = sorted(name for name in PROGRAM_PATHWAYS.values() if not name.startswith(prefixes))
    if unknown:
        raise DataError(f"program pathways {unknown} belong to none of the gene-set libraries {prefixes}")
    genes = universe.genes
    non_landmarks = genes.loc[genes.pr_is_lm == 0, "pr_gene_symbol"].to_numpy()
    sets: dict[str, list[str]] = {}
    for ctype in sorted(universe.programs):
        program = universe.programs[ctype].index.to_numpy()
        low, high = PROGRAM_SET_SIZE
        size = int(np.clip(round(len(program) * rng.uniform(2.0, 4.0)), low, high))
        n_fill = min(max(size - len(program), 0), len(non_landmarks))
        members = np.concatenate([program, rng.choice(non_landmarks, n_fill, replace=False)])
        sets[PROGRAM_PATHWAYS[ctype]] = [str(g) for g in rng.permutation(members)]
    return sets


def _decoy_genes(universe: Universe, rng: np.random.Generator) -> list[str]:
    """A decoy set: random universe genes, sized like real pathways but at most a quarter of the universe."""
    symbols = universe.genes.pr_gene_symbol.to_numpy()
    high = max(DECOY_MIN_SIZE, min(PROGRAM_SET_SIZE[1], len(symbols) // 4))
    return [str(g) for g in rng.choice(symbols, int(rng.integers(DECOY_MIN_SIZE, high + 1)), replace=False)]


def _gmt_text(library: dict[str, list[str]]) -> str:
    """GMT lines ``name<TAB>url<TAB>gene...``, sets in name order as MSigDB ships them."""
    return "".join("\t".join([name, GENESET_URL + name, *library[name]]) + "\n" for name in sorted(library))
