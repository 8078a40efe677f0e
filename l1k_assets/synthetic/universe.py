"""The gene universe and the planted truth every synthetic file is drawn from.

All writers (GEO cohorts, LINCS levels, the inference pairs, GDSC, STRING, gene sets) take
one ``Universe`` so that the same genes, programs and compound effects appear in every file,
and the tests can check that each method recovers what was planted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CANCER_TYPES = ("BRCA", "COAD", "ESCC", "HNSC", "KIRC", "LIHC", "LUAD", "STAD", "THCA")

# Each cancer type's tumor program is planted as one pathway of the generated gene-set
# libraries, named like the pathways seed 000 found enriched.
PROGRAM_PATHWAYS = {
    "BRCA": "HALLMARK_ESTROGEN_RESPONSE_EARLY",
    "COAD": "HALLMARK_WNT_BETA_CATENIN_SIGNALING",
    "ESCC": "HALLMARK_G2M_CHECKPOINT",
    "HNSC": "HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION",
    "KIRC": "HALLMARK_GLYCOLYSIS",
    "LIHC": "HALLMARK_MTORC1_SIGNALING",
    "LUAD": "HALLMARK_E2F_TARGETS",
    "STAD": "KEGG_PATHWAYS_IN_CANCER",
    "THCA": "REACTOME_SIGNALING_BY_RECEPTOR_TYROSINE_KINASES",
}


@dataclass(frozen=True)
class Scale:
    """Sizes of one generated universe; ``tiny`` keeps the test suite fast."""

    name: str
    n_landmarks: int
    n_genes: int  # landmarks + inferred genes in the LINCS gene table
    program_size: int  # landmark genes per cancer-type program
    n_cell_lines: int
    n_compounds: int
    doses_um: tuple[float, ...]
    times_h: tuple[int, ...]
    replicates: int
    dmso_per_plate: int
    n_inference_samples: int
    n_gdsc_cell_lines: int
    n_gdsc_drugs: int


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 120, 400, 10, 3, 30, (1.0, 10.0), (24,), 3, 4, 240, 40, 12),
    "default": Scale("default", 978, 2000, 40, 6, 120, (0.1, 1.0, 10.0), (6, 24), 3, 8, 2000, 150, 40),
    "large": Scale("large", 978, 12328, 60, 12, 600, (0.04, 0.12, 0.37, 1.11, 3.33, 10.0), (6, 24), 3, 16, 3176, 400, 120),
}


@dataclass
class Universe:
    """Genes, programs and compound truth shared by every writer."""

    scale: Scale
    seed: int
    genes: pd.DataFrame  # GSE92742 gene_info columns: pr_gene_id, pr_gene_symbol, pr_gene_title, pr_is_lm, pr_is_bing
    # cancer type -> signed tumor effect (log2 tumor - normal) on its program landmark symbols
    programs: dict[str, pd.Series]
    compounds: pd.DataFrame  # pert_id, pert_iname, reverses (cancer type or ""), promiscuous (bool), moa
    truth: dict = field(default_factory=dict)

    @property
    def landmarks(self) -> list[str]:
        """Landmark gene symbols in gene-table order."""
        return self.genes.loc[self.genes.pr_is_lm == 1, "pr_gene_symbol"].tolist()

    def rng(self, purpose: str) -> np.random.Generator:
        """An independent, reproducible random stream per purpose, so writers do not perturb each other."""
        digest = sum((i + 1) * ord(c) for i, c in enumerate(purpose))
        return np.random.default_rng([self.seed, digest])


def build_universe(scale: str | Scale = "tiny", seed: int = 0) -> Universe:
    """Draw the gene table, one tumor program per cancer type, and the compound panel."""
    sc = SCALES[scale] if isinstance(scale, str) else scale
    rng = np.random.default_rng([seed, 1])
    n = sc.n_genes
    ids = 10_000 + np.arange(n) * 7 + rng.integers(0, 7, size=n)
    symbols = [f"G{i:05d}" for i in range(n)]
    is_lm = np.zeros(n, dtype=int)
    is_lm[rng.choice(n, size=sc.n_landmarks, replace=False)] = 1
    genes = pd.DataFrame(
        {
            "pr_gene_id": ids,
            "pr_gene_symbol": symbols,
            "pr_gene_title": [f"synthetic gene {i}" for i in range(n)],
            "pr_is_lm": is_lm,
            "pr_is_bing": ((is_lm == 1) | (rng.random(n) < 0.8)).astype(int),
        }
    )
    landmarks = genes.loc[genes.pr_is_lm == 1, "pr_gene_symbol"].to_numpy()
    # Programs are disjoint so that each cancer type has its own recoverable pathway.
    order = rng.permutation(len(landmarks))
    programs: dict[str, pd.Series] = {}
    for k, ctype in enumerate(CANCER_TYPES):
        members = landmarks[order[k * sc.program_size : (k + 1) * sc.program_size]]
        signs = np.where(rng.random(len(members)) < 0.6, 1.0, -1.0)
        programs[ctype] = pd.Series(signs * rng.uniform(1.5, 2.5, len(members)), index=members, name=ctype)

    n_cp = sc.n_compounds
    reverses = [""] * n_cp
    promiscuous = [False] * n_cp
    # Two reversers per cancer type, then a few strong nonspecific compounds (the paper's
    # staurosporine problem: best-shot scoring favours them), the rest inert-ish.
    slots = rng.permutation(n_cp)
    cursor = 0
    for ctype in CANCER_TYPES:
        for _ in range(2):
            reverses[slots[cursor]] = ctype
            cursor += 1
    for _ in range(max(2, n_cp // 12)):
        promiscuous[slots[cursor]] = True
        cursor += 1
    moas = np.array(
        ["HDAC inhibitor", "CDK inhibitor", "EGFR inhibitor", "mTOR inhibitor", "tubulin inhibitor", "PI3K inhibitor"]
    )
    compounds = pd.DataFrame(
        {
            "pert_id": [f"BRD-K{10_000_000 + 37 * i:08d}" for i in range(n_cp)],
            "pert_iname": [f"cmpd-{i:04d}" for i in range(n_cp)],
            "reverses": reverses,
            "promiscuous": promiscuous,
        }
    )
    moa = moas[rng.integers(0, len(moas), n_cp)].astype(object)
    for ctype in CANCER_TYPES:  # reversers of one type share a mechanism, as real drug classes do
        moa[compounds.reverses.to_numpy() == ctype] = f"{PROGRAM_PATHWAYS[ctype].split('_', 1)[1].lower()} antagonist"
    compounds["moa"] = moa
    truth = {
        "programs": {k: v.to_dict() for k, v in programs.items()},
        "program_pathways": dict(PROGRAM_PATHWAYS),
        "reversers": {c: compounds.loc[compounds.reverses == c, "pert_id"].tolist() for c in CANCER_TYPES},
        "promiscuous": compounds.loc[compounds.promiscuous, "pert_id"].tolist(),
    }
    return Universe(sc, seed, genes, programs, compounds, truth)
