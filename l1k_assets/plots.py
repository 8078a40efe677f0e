"""Figures for asset metadata: rendered off-screen to PNG bytes.

The Dagster UI shows Markdown, so each figure is embedded as a base64 PNG (see
``asset_utils.image_metadata``) and also written beside the asset's outputs for reports.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd


def _figure(width: float = 6.0, height: float = 4.5, rows: int = 1, cols: int = 1, **options: object):
    """A figure on the off-screen backend (no display on servers or in CI); ``options`` go to ``subplots``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if rows == cols == 1:
        return plt.subplots(figsize=(width, height), dpi=100)
    return plt.subplots(rows, cols, figsize=(width, height), dpi=100, squeeze=False, **options)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def scatter_by_label(points: np.ndarray, labels: pd.Series, title: str, axes: tuple[str, str]) -> bytes:
    """2-D embedding coloured by label (PCA, UMAP)."""
    fig, ax = _figure()
    for label in sorted(labels.unique()):
        mask = (labels == label).to_numpy()
        ax.scatter(points[mask, 0], points[mask, 1], s=8, label=str(label), alpha=0.8)
    ax.set_title(title)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.legend(fontsize=7, markerscale=1.5, ncols=2)
    return _png(fig)


def reliability_diagram(bins: pd.DataFrame, title: str) -> bytes:
    """Accuracy against mean confidence per top-probability bin, with bin counts."""
    fig, ax = _figure(5.0, 5.0)
    shown = bins.dropna(subset=["confidence"])
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.plot(shown.confidence, shown.accuracy, marker="o")
    for row in shown.itertuples():
        ax.annotate(str(row.count), (row.confidence, row.accuracy), fontsize=7, xytext=(3, -10), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean top-class probability")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    return _png(fig)


def heatmap(table: pd.DataFrame, title: str, fmt: str = "{:.2f}") -> bytes:
    """Annotated heatmap (confusion matrices)."""
    fig, ax = _figure(6.5, 5.5)
    image = ax.imshow(table.to_numpy(dtype=float), cmap="Blues")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index], fontsize=8)
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _png(fig)


def bar_panels(series: Mapping[str, pd.Series], title: str, xlabel: str) -> bytes:
    """One horizontal bar chart per key (the seed's Figure 8: top-5 compounds per cancer type)."""
    keys = sorted(series)
    cols = 3
    rows = max(1, -(-len(keys) // cols))
    fig, axes = _figure(4.0 * cols, 2.4 * rows, rows, cols)
    for ax, key in zip(axes.flat, keys, strict=False):
        values = series[key].iloc[::-1]
        ax.barh([str(i) for i in values.index], values.to_numpy())
        ax.set_title(str(key), fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.suptitle(title)
    return _png(fig)


def shared_scale_heatmaps(panels: Mapping[str, np.ndarray], title: str, xlabel: str, ylabel: str) -> bytes:
    """Matrices side by side on one colour scale, so equal colours mean equal values across panels (truth vs prediction)."""
    values = np.concatenate([np.asarray(m, dtype=float).ravel() for m in panels.values()])
    vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
    fig, axes = _figure(3.2 * len(panels) + 1.0, 4.8, 1, len(panels))
    for ax, (name, matrix) in zip(axes.flat, panels.items(), strict=True):
        image = ax.imshow(np.asarray(matrix, dtype=float), aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel(ylabel, fontsize=8)
    fig.suptitle(title)
    fig.colorbar(image, ax=axes[0, -1], shrink=0.8)  # one bar serves every panel: the scale is shared
    return _png(fig)


def training_curves(history: pd.DataFrame, title: str) -> bytes:
    """One panel per recorded quantity against the epoch (loss and validation SCC have different scales)."""
    columns = [c for c in history.columns if c != "epoch"]
    fig, axes = _figure(4.0 * len(columns), 3.5, 1, len(columns))
    for ax, column in zip(axes[0], columns, strict=True):
        ax.plot(history["epoch"], history[column], marker=".")
        ax.set_xlabel("epoch")
        ax.set_title(column)
    fig.suptitle(title)
    return _png(fig)


def histograms(panels: Mapping[str, tuple[np.ndarray, float | None]], title: str, bins: int = 50, ylabel: str = "cells") -> bytes:
    """One histogram per key, with an optional threshold line (QC: library size and genes per cell)."""
    fig, axes = _figure(4.5 * len(panels), 3.5, 1, len(panels))
    for ax, (name, (values, threshold)) in zip(np.ravel(axes), panels.items(), strict=True):
        ax.hist(values, bins=bins, color="tab:blue", alpha=0.8)
        if threshold is not None:
            ax.axvline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
            ax.legend(fontsize=8)
        ax.set_xlabel(name)
        ax.set_ylabel(ylabel)
    fig.suptitle(title)
    return _png(fig)


def dendrogram_panels(trees: Mapping[str, np.ndarray], labels: np.ndarray, title: str) -> bytes:
    """Side-by-side dendrograms with a strip under each coloured by the leaves' labels (seed 000's Figure 6)."""
    from matplotlib import colormaps
    from scipy.cluster.hierarchy import dendrogram

    classes = sorted(set(labels))
    colours = colormaps["tab10"].resampled(max(len(classes), 1))
    fig, axes = _figure(6.0 * len(trees), 4.5, 2, len(trees), gridspec_kw={"height_ratios": [8, 1]})
    for col, (name, tree) in enumerate(trees.items()):
        order = dendrogram(tree, ax=axes[0, col], no_labels=True, color_threshold=0, above_threshold_color="0.3")["leaves"]
        axes[0, col].set_title(name)
        strip = np.array([[classes.index(labels[i]) for i in order]])
        axes[1, col].imshow(strip, aspect="auto", cmap=colours, vmin=-0.5, vmax=len(classes) - 0.5)
        axes[1, col].set_yticks([])
        axes[1, col].set_xticks([])
    handles = [_patch(colours(i), c) for i, c in enumerate(classes)]
    fig.legend(handles=handles, loc="lower center", ncols=min(len(classes), 9), fontsize=7)
    fig.suptitle(title)
    return _png(fig)


def box_panels(groups: Mapping[str, Mapping[str, np.ndarray]], title: str, ylabel: str) -> bytes:
    """One panel per key, a box per inner key with the points over it (patients' predictions by response class)."""
    cols = max(len(groups), 1)
    fig, axes = _figure(2.6 * cols + 0.6, 3.6, 1, cols)
    for ax, (name, boxes) in zip(np.ravel(axes), groups.items(), strict=False):
        values = [np.asarray(v, dtype=float) for v in boxes.values()]
        ax.boxplot(values, tick_labels=list(boxes), showfliers=False)
        for position, points in enumerate(values, start=1):
            ax.scatter(np.full(len(points), position) + np.linspace(-0.12, 0.12, len(points)), points, s=6, alpha=0.6)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    np.ravel(axes)[0].set_ylabel(ylabel)
    fig.suptitle(title)
    return _png(fig)


def _patch(colour: object, label: str) -> object:
    from matplotlib.patches import Patch

    return Patch(color=colour, label=label)
