"""Which genes drive the cancer-type classifier, and which pathways they fall in.

Importances come from two angles (impurity, which is cheap but biased towards noisy
high-variance features, and permutation on each outer fold's held-out pairs), and the top genes go through an
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
from l1k_assets.indication.classifier import FoldResult
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
) -> pd.Series:
    """Mean drop in balanced accuracy when one candidate gene's values are shuffled across samples.

    Only ``candidates`` are permuted (the model still sees every gene), so the cost is
    len(candidates) × repeats predictions rather than one per gene of the model. The shuffled
    copies of ``batch_genes`` genes go through the model in one call: a forest's per-call
    overhead, not its per-row cost, dominates predictions on a few hundred rows.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    baseline = balanced_accuracy_score(y, model.predict(x))
    position = {g: i for i, g in enumerate(genes)}
    drops = {}
    batches = [list(candidates[i : i + batch_genes]) for i in range(0, len(candidates), batch_genes)]
    for batch in batches:
        copies = []
        for gene in batch:
            for _ in range(repeats):
                shuffled = x.copy()
                shuffled[:, position[gene]] = rng.permutation(x[:, position[gene]])
                copies.append(shuffled)
        predictions = np.asarray(model.predict(np.vstack(copies))).reshape(len(batch), repeats, len(y))
        for gene, per_repeat in zip(batch, predictions, strict=True):
            drops[gene] = baseline - float(np.mean([balanced_accuracy_score(y, p) for p in per_repeat]))
    return pd.Series(drops, name="permutation", dtype=float)


def held_out_permutation(
    folds: Sequence[FoldResult],
    x: np.ndarray,
    y: Sequence[str],
    genes: Sequence[str],
    candidates: Sequence[str],
    repeats: int = 3,
    seed: int = 0,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Permutation importance on held-out pairs: each outer fold's forest, permuted on that fold's test split.

    The refit forest has seen every pair, so shuffling a gene on its own training data
    measures memorisation as much as use. Each outer fold's forest never saw its test rows,
    so the drop there is out of sample; the per-fold drops are averaged weighted by the
    folds' test sizes (every pair counts once, as in the pooled estimate), and their sd says
    how stable a gene's importance is across folds. ``progress`` gets one step per fold;
    once its budget is spent no further fold starts (the folds that ran are reported).
    """
    y = np.asarray(y).astype(str)
    drops, sizes = [], []
    for step, fold in enumerate(folds, start=1):
        test = fold.test
        drops.append(permutation_importances(fold.forest.model, x[test], y[test], genes, candidates, repeats, seed + fold.fold))
        sizes.append(len(test))
        if progress is not None:
            progress.update(step, genes=len(candidates))
            if step < len(folds) and progress.exhausted():
                progress.stop_for_budget()
                break
    table = pd.DataFrame(drops).T.reindex(list(candidates))
    weights = np.asarray(sizes, dtype=float) / float(np.sum(sizes))
    return pd.DataFrame(
        {
            "permutation": table.to_numpy() @ weights if len(drops) else np.nan,
            "permutation_fold_sd": table.std(axis=1, ddof=1) if len(drops) > 1 else 0.0,
            "permutation_folds": len(drops),
        },
        index=pd.Index(list(candidates), name="gene"),
    )


def class_contrast(deltas: pd.DataFrame, genes: Sequence[str], label: str = "cancer_type") -> pd.DataFrame:
    """Per class and gene, the standardised mean difference of deltas (class vs the rest): which way each gene points."""
    values = deltas[list(genes)]
    out = {}
    for ctype, members in deltas.groupby(label).groups.items():
        inside, outside = values.loc[members], values.drop(index=members)
        pooled = np.sqrt((inside.var(ddof=1).fillna(0) + outside.var(ddof=1).fillna(0)) / 2).replace(0, np.nan)
        out[ctype] = (inside.mean() - outside.mean()) / pooled
    return pd.DataFrame(out).T.fillna(0.0)


def gene_table(deltas: pd.DataFrame, model: object, genes: Sequence[str], permuted: dict[str, list]) -> pd.DataFrame:
    """Every gene's impurity importance and rank, its held-out permutation importance where computed, and its class.

    ``permuted`` is the classifier checkpoint's ``held_out_permutation`` (columns as lists);
    ``top_class`` is the class the gene separates best (largest |one-vs-rest contrast|), and
    ``top_class_contrast`` its signed effect size, so the table says which way a gene points.
    """
    impurity = impurity_importance(model, genes)
    held_out = pd.DataFrame(permuted).set_index("gene").reindex(impurity.index)
    contrast = class_contrast(deltas, list(genes))
    table = pd.concat([impurity, held_out], axis=1)
    table["rank"] = table.impurity.rank(ascending=False, method="first").astype(int)
    table["top_class"] = contrast.abs().idxmax(axis=0).reindex(table.index)
    table["top_class_contrast"] = [contrast.loc[c, g] for g, c in table.top_class.items()]
    return table.rename_axis("gene").sort_values("rank")


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
