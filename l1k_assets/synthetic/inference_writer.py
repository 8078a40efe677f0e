"""The embedded default's paired inference set: a GSE92743-like folder of L1000 and RNA-seq GCTX files.

Seeds 001/002 learn the full transcriptome from the landmarks on samples profiled twice. For
their benchmarks to mean something on synthetic data the truth has to reward what the methods
claim, so it is planted as follows:

* samples come from a handful of tissues, which shift the landmark means (the optional organ
  feature of the GNN has something to use);
* landmarks share a few latent factors, so they are correlated as real expression is, but
  each keeps a large idiosyncratic part: a gene driven by a landmark needs that landmark;
* a tenth of the landmarks are *regulators*, independent of the factors and tissues (only
  they carry their own signal), and genes draw most of their parents from them: a selector
  that finds the regulators (greedy) keeps far more genes predictable than a random
  108-landmark set, which holds about a tenth of them;
* every non-landmark gene is a function of 2–4 landmark *parents*: linear for some genes,
  and for the others a nonlinear response to their weighted sum (a saturating term plus a
  U-shaped bend, as a gene answers the summed activity of its regulators), which linear
  regression cannot fit but a KNN, an MLP or a GNN can. Each gene's drive is its own
  direction in landmark space, so a model needs capacity per gene, not only a few shared
  directions;
* every direct gene also follows a product of two of the landmarks' latent factors: a smooth
  function of the samples' low-dimensional state, which nearest neighbours and networks
  follow and a linear model cannot;
* non-landmark genes form *modules* that share one latent factor made from landmarks, so
  gene–gene cosine similarity among non-landmarks (the GNN's graph) carries signal;
* a share of non-landmarks are *relay* genes, a nonlinear function of another gene of their
  module (its *leader*) rather than of landmarks directly: the leader is their nearest
  neighbour in the graph, so the GNN reaches them in two hops while a model from the
  landmarks alone must learn the composition;
* some genes are pure noise, as real data has unexpressed or unmeasurable genes: no model
  infers them, so the well-inferred count stays below the gene count;
* the L1000 landmark values are the RNA-seq ones through a platform transform plus noise:
  correlated, never identical. The L1000 file also carries inferred (non-landmark) rows, like
  the real one; they are a ridge regression on the L1000 landmarks, CMap's inference;
* as in GSE92743 (12,320 genes, 970 of the 978 landmarks), both files lack 8 landmarks: the
  ones no planted gene depends on (fewest children, never a regulator), so every gene stays
  as predictable as planted and a loader that insists on all landmarks stops at the door.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.synthetic.gzipped import write_gz_text
from l1k_assets.synthetic.lincs_writer import (
    L1000_LOG2_RANGE,
    geo_suppl_dir,
    table_text,
    write_gctx_gz,
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
LANDMARK_NOISE_SD = 0.9  # idiosyncratic landmark variation: about 40 % of a landmark's variance
PLATFORM_NOISE_SD = 0.35
GENE_NOISE_SD = 0.3
MODULE_SIZE = 20
MODULE_PARENTS = 2
MODULE_LOADING = (1.2, 1.8)  # |λ| on the unit-variance module factor: module genes correlate ~0.4
LINEAR_FRACTION = 0.3
REGULATOR_FRACTION = 0.1  # landmarks most parents are drawn from
REGULATOR_PARENT_SHARE = 0.6  # chance that a parent is a regulator
RELAY_FRACTION = 0.2  # non-landmarks driven by their module's leader gene
NOISE_GENE_FRACTION = 0.1  # non-landmarks with no signal at all
FACTOR_PRODUCT_SD = 1.2  # weight of each direct gene's factor-product term
TRUTH_SUBSET = 25  # genes per kind listed in the manifest, to keep it small
N_MISSING_LANDMARKS = 8  # GSE92743's files hold 970 of the 978 landmarks
RIDGE_PER_SAMPLE = 0.1
BEND = 1.0  # weight of the response's U-shaped part, the share of a nonlinear gene no linear model sees


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


def landmark_rnaseq(
    n_lm: int, tissue: np.ndarray, regulators: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Samples × landmarks log2 RPKM (gene mean + tissue shift + shared latent factors + noise) and the factor scores.

    Regulators have neither tissue shift nor factor loadings: no other landmark predicts them.
    """
    mean = rng.uniform(2.0, 10.0, n_lm)
    shift = rng.normal(0.0, TISSUE_SD, (len(TISSUES), n_lm))
    loadings = rng.normal(0.0, FACTOR_LOADING_SD, (N_FACTORS, n_lm))
    shift[:, regulators], loadings[:, regulators] = 0.0, 0.0
    scores = rng.normal(0.0, 1.0, (len(tissue), N_FACTORS))
    values = mean + shift[tissue] + scores @ loadings + rng.normal(0.0, LANDMARK_NOISE_SD, (len(tissue), n_lm))
    return values, scores


def draw_parents(n_rows: int, n_parents: int, regulators: np.ndarray, n_lm: int, rng: np.random.Generator) -> np.ndarray:
    """``n_rows`` × ``n_parents`` distinct landmark positions per row, each a regulator with REGULATOR_PARENT_SHARE."""
    weight = np.full(n_lm, (1 - REGULATOR_PARENT_SHARE) / max(n_lm - len(regulators), 1))
    weight[regulators] = REGULATOR_PARENT_SHARE / len(regulators)
    keys = rng.random((n_rows, n_lm)) ** (1.0 / weight)  # weighted sampling without replacement (Efraimidis–Spirakis)
    return np.argsort(-keys, axis=1)[:, :n_parents]


def plant_genes(n_genes: int, regulators: np.ndarray, n_lm: int, rng: np.random.Generator) -> pd.DataFrame:
    """Per non-landmark gene: its own parents (landmark positions), linear or not, its module and its role.

    Roles: ``noise`` (no signal), ``relay`` (driven by its module's leader, the module's first
    ``direct`` gene) or ``direct`` (driven by its landmark parents).
    """
    n_parents = rng.integers(2, 5, n_genes)
    own = draw_parents(n_genes, 4, regulators, n_lm, rng)
    n_modules = max(1, n_genes // MODULE_SIZE)
    draw = rng.random(n_genes)
    role = np.where(draw < NOISE_GENE_FRACTION, "noise", np.where(draw < NOISE_GENE_FRACTION + RELAY_FRACTION, "relay", "direct"))
    return pd.DataFrame(
        {
            "parents": [row[:k].tolist() for row, k in zip(own, n_parents, strict=True)],
            "linear": rng.random(n_genes) < LINEAR_FRACTION,
            "module": rng.integers(0, n_modules, n_genes),
            "role": role,
        }
    )


def response(drive: np.ndarray, sign: np.ndarray | float) -> np.ndarray:
    """A gene's response to its standardised drive: saturating in one direction plus a bend LR cannot see."""
    return 1.5 * sign * np.tanh(1.5 * drive) + (drive**2 - 1) * BEND


def nonlandmark_values(
    z: np.ndarray, factors: np.ndarray, plan: pd.DataFrame, regulators: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, list[list[int]], dict[int, int]]:
    """Samples × non-landmarks from standardised landmarks ``z``, each module's landmark parents, and relay → leader.

    Linear genes: Σ w·z over the parents. Nonlinear genes: ``response`` of that sum, standardised.
    Both kinds add λ times their module's factor (± the module's parents, summed and
    standardised), a product of two latent ``factors`` and noise. A relay gene is ``response``
    of its leader's standardised value u, plus noise; a noise gene is
    noise alone. Every gene then gets a gene mean and scale.
    """
    n, n_lm = z.shape
    n_genes = len(plan)
    n_modules = int(plan.module.max()) + 1
    module_parents = draw_parents(n_modules, MODULE_PARENTS, regulators, n_lm, rng)
    module_factor = (z[:, module_parents] * rng.choice([-1.0, 1.0], module_parents.shape)).sum(axis=2)
    module_factor /= module_factor.std(axis=0)

    parents = np.array([p + [p[0]] * (4 - len(p)) for p in plan.parents])  # padded to 4 (repeats ignored below)
    n_parents = plan.parents.map(len).to_numpy()
    zp = z[:, parents]  # samples × genes × 4
    coef = rng.uniform(0.7, 1.3, (n_genes, 4)) * rng.choice([-1.0, 1.0], (n_genes, 4))
    used = np.arange(4) < n_parents[:, None]
    linear = (zp * coef * used).sum(axis=2)
    drive = linear / np.sqrt((coef**2 * used).sum(axis=1))
    nonlinear = response(drive, np.sign(coef[:, 0]))
    signal = np.where(plan.linear.to_numpy(), linear, nonlinear)
    loading = rng.uniform(*MODULE_LOADING, n_genes) * rng.choice([-1.0, 1.0], n_genes)
    pair = np.argsort(rng.random((n_genes, factors.shape[1])), axis=1)[:, :2]
    product = FACTOR_PRODUCT_SD * rng.choice([-1.0, 1.0], n_genes) * factors[:, pair[:, 0]] * factors[:, pair[:, 1]]
    values = signal + loading * module_factor[:, plan.module.to_numpy()] + product
    role, module = plan.role.to_numpy(), plan.module.to_numpy()
    leaders: dict[int, int] = {}
    for m in range(n_modules):
        direct = np.flatnonzero((module == m) & (role == "direct"))
        for gene in np.flatnonzero((module == m) & (role == "relay")):
            leaders[int(gene)] = int(direct[0]) if len(direct) else -1
    for gene, leader in leaders.items():
        if leader < 0:  # a module without a direct gene: the relay has nothing to follow
            values[:, gene] = 0.0
            continue
        u = (values[:, leader] - values[:, leader].mean()) / values[:, leader].std()
        values[:, gene] = response(u, rng.choice([-1.0, 1.0]))
    values[:, role == "noise"] = 0.0
    values += rng.normal(0.0, GENE_NOISE_SD, (n, n_genes))
    values[:, role == "noise"] *= 1.0 / GENE_NOISE_SD  # unit-variance noise, on the scale of the other genes
    scaled = rng.uniform(2.0, 9.0, n_genes) + rng.uniform(0.4, 1.0, n_genes) * values
    return scaled, module_parents.tolist(), {g: lead for g, lead in leaders.items() if lead >= 0}


def missing_landmarks(
    plan: pd.DataFrame,
    module_parents: list[list[int]],
    regulators: np.ndarray,
    keep: set[int],
    n_lm: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Positions of the landmarks both files leave out: the least used as parents, never a regulator or one in ``keep``.

    Use counts the direct genes' own parents and every module's parents; ties are broken at random.
    """
    uses = np.zeros(n_lm)
    direct = plan.role.to_numpy() == "direct"
    for parents in plan.parents[direct]:
        uses[parents] += 1
    for parents in module_parents:
        uses[parents] += 1
    uses[regulators] = np.inf
    uses[sorted(keep)] = np.inf
    order = np.lexsort((rng.random(n_lm), uses))
    return np.sort(order[:N_MISSING_LANDMARKS])


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

    regulators = rng.choice(len(lm_ids), max(1, round(REGULATOR_FRACTION * len(lm_ids))), replace=False)
    rna_lm, factors = landmark_rnaseq(len(lm_ids), samples.tissue_index.to_numpy(), regulators, rng)
    z = (rna_lm - rna_lm.mean(axis=0)) / rna_lm.std(axis=0)
    plan = plant_genes(len(other_ids), regulators, len(lm_ids), rng)
    rna_other, module_parents, leaders = nonlandmark_values(z, factors, plan, regulators, rng)
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

    direct = plan.role.to_numpy() == "direct"
    linear = np.flatnonzero(plan.linear.to_numpy() & direct)[:TRUTH_SUBSET]
    nonlinear = np.flatnonzero(~plan.linear.to_numpy() & direct)[:TRUTH_SUBSET]
    listed = np.concatenate([linear, nonlinear])
    listed_parents = {p for g in listed for p in [*plan.parents.iloc[g], *module_parents[plan.module.iloc[g]]]}
    absent = missing_landmarks(plan, module_parents, regulators, listed_parents, len(lm_ids), universe.rng("inference_missing"))
    kept_rows = ~np.isin(gene_ids, lm_ids[absent])
    l1000 = full(l1000_lm, l1000_other).clip(*L1000_LOG2_RANGE)[kept_rows]

    folder = geo_suppl_dir(root, ACCESSION)
    folder.mkdir(parents=True, exist_ok=True)
    shape = f"n{len(samples)}x{int(kept_rows.sum())}"
    row_meta = pd.DataFrame(
        {"pr_gene_symbol": genes.pr_gene_symbol.to_numpy(), "pr_is_lm": genes.pr_is_lm.to_numpy()}, index=gene_ids
    )[kept_rows]
    col_meta = samples.set_index("inst_id")[["SMTS", "SMTSD"]]
    write_gctx_gz(folder / f"{ACCESSION}_Broad_GTEx_L1000_Level3_Q2NORM_{shape}.gctx.gz", l1000, row_meta, col_meta)
    write_gctx_gz(
        folder / f"{ACCESSION}_Broad_GTEx_RNAseq_Log2RPKM_q2norm_{shape}.gctx.gz",
        full(rna_lm, rna_other)[kept_rows],
        row_meta,
        col_meta,
    )
    write_gz_text(folder / f"{ACCESSION}_Broad_GTEx_inst_info.txt.gz", table_text(samples.drop(columns="tissue_index")))
    write_sha512sums(folder, ACCESSION)

    def ids(positions: list[int]) -> list[str]:
        return lm_ids[positions].tolist()

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
        "regulator_landmarks": ids(sorted(regulators.tolist())),
        "missing_landmarks": ids(absent.tolist()),
        "noise_genes": other_ids[plan.role.to_numpy() == "noise"].tolist(),
        "relay_leaders": {other_ids[g]: other_ids[lead] for g, lead in list(leaders.items())[:TRUTH_SUBSET]},
    }
