"""Which genes drive the cancer-type classifier, and which pathways they fall in.

Importances come from two angles (impurity, which is cheap but biased towards noisy
high-variance features, and permutation on held-out data), and the top genes go through an
over-representation test against local GMT libraries with Benjamini–Hochberg FDR, computed
by gseapy's Enrichr method offline (gene sets passed as a dict, never a library name).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from l1k_assets.errors import DataError
from l1k_assets.progress import Progress

log = logging.getLogger("l1k.indication")

PERMUTATION_BATCH = 16  # genes whose shuffled copies go through the forest in one predict call


def impurity_importance(model: object, genes: Sequence[str]) -> pd.Series:
    """Mean decrease in impurity, averaged over the forests inside a calibrated model."""
    forests = [c.estimator for c in getattr(model, "calibrated_classifiers_", [])] or [model]
    values = np.mean([f.feature_importances_ for f in forests], axis=0)
    return pd.Series(values, index=list(genes), name="impurity")


def permutation_importances(
    model: object,
    x: np.ndarray,
    y: Sequence[str],
    genes: Sequence[str],
    candidates: Sequence[str],
    repeats: int = 3,
    seed: int = 0,
    batch_genes: int = PERMUTATION_BATCH,
    progress: Progress | None = None,
) -> pd.Series:
    """Mean drop in balanced accuracy when one candidate gene's values are shuffled across samples.

    Only ``candidates`` are permuted (the model still sees every gene), so the cost is
    len(candidates) × repeats predictions rather than one per gene of the model. The shuffled
    copies of ``batch_genes`` genes go through the model in one call: a forest's per-call
    overhead, not its per-row cost, dominates predictions on a few hundred rows. ``progress``
    gets one step per batch; once its budget is spent the genes not reached are left out.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    baseline = balanced_accuracy_score(y, model.predict(x))
    position = {g: i for i, g in enumerate(genes)}
    drops = {}
    batches = [list(candidates[i : i + batch_genes]) for i in range(0, len(candidates), batch_genes)]
    for step, batch in enumerate(batches, start=1):
        copies = []
        for gene in batch:
            for _ in range(repeats):
                shuffled = x.copy()
                shuffled[:, position[gene]] = rng.permutation(x[:, position[gene]])
                copies.append(shuffled)
        predictions = np.asarray(model.predict(np.vstack(copies))).reshape(len(batch), repeats, len(y))
        for gene, per_repeat in zip(batch, predictions, strict=True):
            drops[gene] = baseline - float(np.mean([balanced_accuracy_score(y, p) for p in per_repeat]))
        if progress is not None:
            progress.update(step, genes=len(drops))
            if step < len(batches) and progress.exhausted():
                progress.stop_for_budget()
                break
    return pd.Series(drops, name="permutation", dtype=float)


def class_contrast(deltas: pd.DataFrame, genes: Sequence[str], label: str = "cancer_type") -> pd.DataFrame:
    """Per class and gene, the standardised mean difference of deltas (class vs the rest): which way each gene points."""
    values = deltas[list(genes)]
    out = {}
    for ctype, members in deltas.groupby(label).groups.items():
        inside, outside = values.loc[members], values.drop(index=members)
        pooled = np.sqrt((inside.var(ddof=1).fillna(0) + outside.var(ddof=1).fillna(0)) / 2).replace(0, np.nan)
        out[ctype] = (inside.mean() - outside.mean()) / pooled
    return pd.DataFrame(out).T.fillna(0.0)


def top_genes_per_class(importance: pd.Series, contrast: pd.DataFrame, n: int) -> dict[str, list[str]]:
    """For each class, the n genes ranking highest by importance × class contrast².

    Importance says how much the forest uses a gene for all classes together; the squared
    contrast (a one-vs-rest effect size) says how much of that gene's class separation is
    this class's. With |contrast| instead, genes the forest uses heavily for a large class
    (every other class differs from it a little) crowd out a class's own, weaker-used genes.
    """
    weight = contrast.pow(2).mul(importance.reindex(contrast.columns).fillna(0), axis=1)
    return {ctype: row.nlargest(n).index.tolist() for ctype, row in weight.iterrows()}


def gene_set_clustering(
    deltas: pd.DataFrame, ranked_genes: Sequence[str], n: int = 30, seed: int = 0, label: str = "cancer_type"
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Seed 000's Figure 6: Ward clustering of the pairs on the n top-ranked genes against n random genes.

    The paper shows the dendrograms (30 model-selected genes give compact branches per cancer
    type, 30 random genes fragmented ones). Here each tree is also cut into as many clusters as
    there are cancer types and scored by the adjusted Rand index against them, so the contrast
    is a number as well as a picture. Returns one row per gene set and the Ward linkages.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import adjusted_rand_score

    genes = list(ranked_genes)
    if len(genes) < 2 * n:
        raise DataError(f"Figure 6 needs {2 * n} genes (the top {n} and {n} random others), got {len(genes)}")
    labels = deltas[label].astype(str).to_numpy()
    others = np.asarray(genes[n:])
    random = np.random.default_rng(seed).choice(others, n, replace=False).tolist()
    rows, trees = [], {}
    for name, chosen in ((f"top {n}", genes[:n]), (f"random {n}", random)):
        trees[name] = linkage(deltas[chosen].to_numpy(dtype=np.float64), method="ward")
        clusters = fcluster(trees[name], t=len(set(labels)), criterion="maxclust")
        rows.append({"genes": name, "ari": float(adjusted_rand_score(labels, clusters)), "members": ", ".join(chosen[:8])})
    return pd.DataFrame(rows), trees
