"""The embedded default's paired inference set: a GSE92743-like folder of L1000 and RNA-seq GCTX files.

Seeds 001/002 learn the full transcriptome from the landmarks on samples profiled twice. For
their benchmarks to mean something on synthetic data the truth has to reward what the methods
claim, so it is planted as follows:

* samples come from a handful of tissues, which shift the landmark means (the optional organ
  feature of the GNN has something to use);
* landmarks share a few latent factors, so they are correlated as real expression is;
* every non-landmark gene is a function of 2–4 landmark *parents*: linear for some genes,
  and for the others a product term plus a saturating term, which linear regression cannot
  fit but a KNN, an MLP or a GNN can;
* non-landmark genes form *modules* that share one latent factor made from landmarks, so
  gene–gene cosine similarity among non-landmarks (the GNN's graph) carries signal;
* the L1000 landmark values are the RNA-seq ones through a platform transform plus noise:
  correlated, never identical. The L1000 file also carries inferred (non-landmark) rows, like
  the real one; they are a ridge regression on the L1000 landmarks, CMap's inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.synthetic.lincs_writer import (
    L1000_LOG2_RANGE,
    geo_suppl_dir,
    table_text,
    write_gctx_gz,
    write_gz_text,
    write_sha512sums,
)
from l1k_assets.synthetic.universe import Universe

ACCESSION = "GSE92743"
# GTEx organ (SMTS) and a detailed site (SMTSD) for each planted tissue.
TISSUES: tuple[tuple[str, str], ...] = (
    ("Blood", "Whole Blood"),
    ("Brain", "Brain - Cortex"),
    ("Lung", "Lung"),
    ("Muscle", "Muscle - Skeletal"),
    ("Skin", "Skin - Sun Exposed (Lower leg)"),
    ("Liver", "Liver"),
)
N_FACTORS = 8
TISSUE_SD = 0.6
FACTOR_LOADING_SD = 0.35
LANDMARK_NOISE_SD = 0.4
PLATFORM_NOISE_SD = 0.35
GENE_NOISE_SD = 0.3
MODULE_SIZE = 20
MODULE_PARENTS = 2
MODULE_LOADING = (1.2, 1.8)  # |λ| on the unit-variance module factor: module genes correlate ~0.4
LINEAR_FRACTION = 0.3
TRUTH_SUBSET = 25  # genes per kind listed in the manifest, to keep it small
RIDGE_PER_SAMPLE = 0.1


def sample_table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """GTEx-like sample ids with their tissue; GTEx ids are donor + tissue site + aliquot."""
    tissue = rng.integers(0, len(TISSUES), n)
    donors = [f"GTEX-{d:05X}" for d in rng.integers(0x10000, 0xFFFFF, n)]
    ids = [
        f"{donor}-{k:04d}-SM-{a:05X}"
        for donor, k, a in zip(donors, rng.integers(1, 3000, n), rng.choice(0xFFFFF, n, replace=False), strict=True)
    ]
    return pd.DataFrame(
        {
            "inst_id": ids,
            "SUBJID": donors,
            "SMTS": [TISSUES[t][0] for t in tissue],
            "SMTSD": [TISSUES[t][1] for t in tissue],
            "tissue_index": tissue,
        }
    )


def landmark_rnaseq(n_lm: int, tissue: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Samples × landmarks log2 RPKM: gene mean + tissue shift + shared latent factors + noise."""
    mean = rng.uniform(2.0, 10.0, n_lm)
    shift = rng.normal(0.0, TISSUE_SD, (len(TISSUES), n_lm))
    factors = rng.normal(0.0, 1.0, (len(tissue), N_FACTORS)) @ rng.normal(0.0, FACTOR_LOADING_SD, (N_FACTORS, n_lm))
    return mean + shift[tissue] + factors + rng.normal(0.0, LANDMARK_NOISE_SD, (len(tissue), n_lm))


def plant_genes(n_genes: int, n_lm: int, rng: np.random.Generator) -> pd.DataFrame:
    """Per non-landmark gene: its own parents (landmark positions), linear or not, and its module."""
    n_parents = rng.integers(2, 5, n_genes)
    own = np.argsort(rng.random((n_genes, n_lm)), axis=1)[:, :4]
    n_modules = max(1, n_genes // MODULE_SIZE)
    return pd.DataFrame(
        {
            "parents": [row[:k].tolist() for row, k in zip(own, n_parents, strict=True)],
            "linear": rng.random(n_genes) < LINEAR_FRACTION,
            "module": rng.integers(0, n_modules, n_genes),
        }
    )


def nonlandmark_values(z: np.ndarray, plan: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, list[list[int]]]:
    """Samples × non-landmarks from standardised landmarks ``z``, and each module's landmark parents.

    Linear genes: Σ w·z over the parents. Nonlinear genes: a·z₁·z₂ + b·tanh(2·z₃) (z₃ = z₁ when a
    gene has two parents) + c·max(z₄, 0) with four. Both kinds add λ times their module's factor
    (± the module's parents, summed and standardised) and noise, then get a gene mean and scale.
    """
    n, n_lm = z.shape
    n_genes = len(plan)
    n_modules = int(plan.module.max()) + 1
    module_parents = np.argsort(rng.random((n_modules, n_lm)), axis=1)[:, :MODULE_PARENTS]
    module_factor = (z[:, module_parents] * rng.choice([-1.0, 1.0], module_parents.shape)).sum(axis=2)
    module_factor /= module_factor.std(axis=0)

    parents = np.array([p + [p[0]] * (4 - len(p)) for p in plan.parents])  # padded to 4 (repeats ignored below)
    n_parents = plan.parents.map(len).to_numpy()
    zp = z[:, parents]  # samples × genes × 4
    coef = rng.uniform(0.7, 1.3, (n_genes, 4)) * rng.choice([-1.0, 1.0], (n_genes, 4))
    used = np.arange(4) < n_parents[:, None]
    linear = (zp * coef * used).sum(axis=2)
    third = np.where(n_parents >= 3, zp[:, :, 2], zp[:, :, 0])
    nonlinear = (
        1.5 * coef[:, 0] * zp[:, :, 0] * zp[:, :, 1]
        + coef[:, 1] * np.tanh(2.0 * third)
        + np.where(n_parents == 4, coef[:, 3] * np.maximum(zp[:, :, 3], 0.0), 0.0)
    )
    signal = np.where(plan.linear.to_numpy(), linear, nonlinear)
    loading = rng.uniform(*MODULE_LOADING, n_genes) * rng.choice([-1.0, 1.0], n_genes)
    values = signal + loading * module_factor[:, plan.module.to_numpy()] + rng.normal(0.0, GENE_NOISE_SD, (n, n_genes))
    scaled = rng.uniform(2.0, 9.0, n_genes) + rng.uniform(0.4, 1.0, n_genes) * values
    return scaled, module_parents.tolist()


def ridge_inferred(landmarks: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Targets fitted from landmarks by ridge regression (with intercept), as CMap infers non-landmarks."""
    x_mean, y_mean = landmarks.mean(axis=0), targets.mean(axis=0)
    x = landmarks - x_mean
    penalty = RIDGE_PER_SAMPLE * len(x) * np.eye(x.shape[1])
    beta = np.linalg.solve(x.T @ x + penalty, x.T @ (targets - y_mean))
    return y_mean + x @ beta


def write_inference_pairs(universe: Universe, root: Path) -> dict[str, Any]:
    """Write the GSE92743-like folder (two GCTX, inst_info, SHA512SUMS); return the planted truth."""
    rng = universe.rng("inference_pairs")
    genes = universe.genes
    gene_ids = genes.pr_gene_id.astype(str).to_numpy()
    is_lm = genes.pr_is_lm.to_numpy() == 1
    lm_ids, other_ids = gene_ids[is_lm], gene_ids[~is_lm]
    samples = sample_table(universe.scale.n_inference_samples, rng)

    rna_lm = landmark_rnaseq(len(lm_ids), samples.tissue_index.to_numpy(), rng)
    z = (rna_lm - rna_lm.mean(axis=0)) / rna_lm.std(axis=0)
    plan = plant_genes(len(other_ids), len(lm_ids), rng)
    rna_other, module_parents = nonlandmark_values(z, plan, rng)
    # L1000 reads each landmark on its own scale (Q2NORM values sit around 7–10), with its own gain and noise.
    gain = rng.uniform(0.8, 1.2, len(lm_ids))
    l1000_lm = rng.uniform(7.0, 10.0, len(lm_ids)) + gain * (rna_lm - rna_lm.mean(axis=0))
    l1000_lm += rng.normal(0.0, PLATFORM_NOISE_SD, l1000_lm.shape)
    inferred = ridge_inferred(l1000_lm, rna_other)
    l1000_other = rng.uniform(7.0, 10.0, len(other_ids)) + inferred - inferred.mean(axis=0)

    def full(lm: np.ndarray, other: np.ndarray) -> pd.DataFrame:
        values = np.empty((len(gene_ids), len(samples)), dtype=np.float32)
        values[is_lm], values[~is_lm] = lm.T, other.T
        return pd.DataFrame(values, index=gene_ids, columns=samples.inst_id.to_numpy())

    l1000 = full(l1000_lm, l1000_other).clip(*L1000_LOG2_RANGE)

    folder = geo_suppl_dir(root, ACCESSION)
    folder.mkdir(parents=True, exist_ok=True)
    shape = f"n{len(samples)}x{len(gene_ids)}"
    row_meta = pd.DataFrame(
        {"pr_gene_symbol": genes.pr_gene_symbol.to_numpy(), "pr_is_lm": genes.pr_is_lm.to_numpy()}, index=gene_ids
    )
    col_meta = samples.set_index("inst_id")[["SMTS", "SMTSD"]]
    write_gctx_gz(folder / f"{ACCESSION}_Broad_GTEx_L1000_Level3_Q2NORM_{shape}.gctx.gz", l1000, row_meta, col_meta)
    write_gctx_gz(
        folder / f"{ACCESSION}_Broad_GTEx_RNAseq_Log2RPKM_q2norm_{shape}.gctx.gz", full(rna_lm, rna_other), row_meta, col_meta
    )
    write_gz_text(folder / f"{ACCESSION}_Broad_GTEx_inst_info.txt.gz", table_text(samples.drop(columns="tissue_index")))
    write_sha512sums(folder, ACCESSION)

    def ids(positions: list[int]) -> list[str]:
        return lm_ids[positions].tolist()

    linear = np.flatnonzero(plan.linear.to_numpy())[:TRUTH_SUBSET]
    nonlinear = np.flatnonzero(~plan.linear.to_numpy())[:TRUTH_SUBSET]
    listed = np.concatenate([linear, nonlinear])
    return {
        "n_samples": len(samples),
        "tissues": [t[0] for t in TISSUES],
        # all landmarks a listed gene depends on: its own parents and its module's
        "parents": {
            other_ids[g]: ids(sorted(set(plan.parents.iloc[g]) | set(module_parents[plan.module.iloc[g]]))) for g in listed
        },
        "modules": {f"module_{m}": other_ids[plan.module.to_numpy() == m].tolist() for m in range(min(5, len(module_parents)))},
        "linear_genes": other_ids[linear].tolist(),
        "nonlinear_genes": other_ids[nonlinear].tolist(),
    }
