"""Seed 001's comparison on single cells, callable from a notebook: L1000's landmarks, the discovered set, a random set.

``compare_landmark_sets`` fits the same models from each set to the genes in none of them
(``discovery.compare_sets``), adds a random set of the discovered set's size, and asks which
gene-set library terms each set is over-represented in. The DNN settings here are seed 001's
(``paper``) with CPU-sized demo defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, Field

from l1k_assets.genesets.enrichment import enrich
from l1k_assets.landmarks import LandmarkCoverage
from l1k_assets.paper_sources import SEED_001_DNN_WIDTHS, Sourced
from l1k_assets.progress import Progress
from l1k_assets.singlecell.discovery import CellData, compare_sets, discover_landmarks, random_set
from l1k_assets.torch_setup import TorchSetup


class DnnSettings(BaseModel):
    """Seed 001's DNN: Linear–Dropout–ReLU stacks, Adam at 1e-2, early stopping with patience 5.

    The demo profile trains narrower layers for fewer epochs; ``paper`` restores 100 epochs and
    wider layers (seed 001 gives no widths; ``PAPER_SOURCES`` says where each value is from).
    """

    hidden: list[int] = Field(default_factory=lambda: [128, 128], description="seed 001 does not give widths")
    dropout: float = 0.1
    lr: float = 1e-2
    max_epochs: int = 40
    patience: int = 5
    batch_size: int = 128
    stop_on: str = Field("scc", description="early stopping on validation scc (the platform's rule) or mse (seed 001)")
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "hidden": SEED_001_DNN_WIDTHS,
        "lr": Sourced(1e-2, "seed 001 §2.2.2: 'an Adam optimizer with a learning rate of 1e^{-2}'"),
        "max_epochs": Sourced(100, "seed 001 §2.2.2: 'trained the network for 100 epochs'"),
        "patience": Sourced(5, "seed 001 §2.2.2: 'early stopping, with a patience of 5'"),
        "stop_on": Sourced(
            "mse", "seed 001 §2.2: early stopping, the models evaluated by 'Mean Squared Error Loss' (l1k's reading)"
        ),
    }


def dnn_params(settings: DnnSettings, setup: TorchSetup, **extra: object) -> dict:
    """DNNInference arguments: the settings plus the setup's device, dtype and seed."""
    return {
        "hidden": tuple(settings.hidden),
        "dropout": settings.dropout,
        "lr": settings.lr,
        "max_epochs": settings.max_epochs,
        "patience": settings.patience,
        "batch_size": settings.batch_size,
        "stop_on": settings.stop_on,
        **setup.torch_options(),
        **extra,
    }


@dataclass
class SetComparison:
    """Each set's fits (one row per set and model), test MSE per cell type, and its enriched library terms."""

    sets: dict[str, list[str]]
    fits: pd.DataFrame
    per_type: pd.DataFrame
    enrichment: pd.DataFrame
    fdr_threshold: float

    @property
    def significant(self) -> pd.DataFrame:
        """The terms below the FDR threshold."""
        return self.enrichment[self.enrichment.fdr < self.fdr_threshold]

    def top_terms(self, n: int = 5) -> pd.DataFrame:
        """Each set's ``n`` most significant terms."""
        top = self.significant.sort_values("fdr").groupby("gene_set").head(n)
        return top[["gene_set", "library", "term", "overlap", "fdr"]]

    def per_type_mse(self) -> pd.DataFrame:
        """Cell types × ``set/model`` test MSE, for the heatmap."""
        heat = self.per_type.pivot_table(index="cell_type", columns=["gene_set", "model"], values="test_mse")
        heat.columns = [f"{s}/{m}" for s, m in heat.columns]
        return heat

    def overlap(self) -> dict[str, float]:
        """How many genes L1000's and the discovered set share, and their Jaccard index."""
        l1000, discovered = set(self.sets["L1000"]), set(self.sets["discovered"])
        return {"overlap_l1000_discovered": len(l1000 & discovered), "jaccard": len(l1000 & discovered) / len(l1000 | discovered)}

    def metrics(self) -> dict[str, float]:
        """Validation and test MSE of every set and model, keyed ``<set>.<model>.<metric>``."""
        fits = self.fits.itertuples()
        return {f"{r.gene_set}.{r.model}.{k}": float(getattr(r, k)) for r in fits for k in ("val_mse", "test_mse")}

    def summary(self) -> pd.DataFrame:
        """The fits' sizes and errors, as the asset page shows them."""
        return self.fits[["gene_set", "model", "n_inputs", "n_targets", "val_mse", "test_mse", "scc_mean", "error_mean"]]

    def facts(self) -> dict[str, Any]:
        """Whether a budget cut a fit, the sets' overlap and each set's count of significant terms."""
        counts = self.significant.gene_set.value_counts()
        return {
            "stopped_by_budget": bool(self.fits.stopped_by_budget.any()),
            **self.overlap(),
            "significant_terms": counts.to_dict(),
        }

    def table(self) -> pd.DataFrame:
        """The fits with each set's count of significant terms and its genes (``;``-joined)."""
        counts = self.significant.gene_set.value_counts()
        return self.fits.assign(
            significant_terms=self.fits.gene_set.map(counts).fillna(0).astype(int),
            genes=self.fits.gene_set.map({name: ";".join(genes) for name, genes in self.sets.items()}),
        )


def compare_landmark_sets(
    data: CellData,
    discovered: Sequence[str],
    l1000: LandmarkCoverage,
    libraries: Mapping[str, Any],
    model_params: Mapping[str, Mapping[str, Any]],
    progress: Progress,
    *,
    random_seed: int = 0,
    fdr_threshold: float = 0.05,
) -> SetComparison:
    """Fit every model from L1000's landmarks present in ``data``, the discovered set and a seeded random set.

    ``l1000`` is the landmarks' coverage of the data set (its ``present`` symbols are the
    set); ``libraries`` map a library name to its gene sets (``read_gmt``); ``progress``
    carries the budget of all fits together.
    """
    present, found = list(l1000.present), list(discovered)
    sets = {"L1000": present, "discovered": found, "random": random_set(data.genes, len(found), present + found, random_seed)}
    fits, per_type = compare_sets(data, sets, model_params, progress)
    enrichment = pd.concat(
        [enrich(genes, libraries, data.genes).assign(gene_set=name) for name, genes in sets.items()], ignore_index=True
    )
    return SetComparison(sets, fits, per_type, enrichment, fdr_threshold)


def pooled_landmark_comparison(
    data: CellData,
    l1000: LandmarkCoverage,
    libraries: Mapping[str, Any],
    discovery: Mapping[str, Any],
    model_params: Mapping[str, Mapping[str, Any]],
    progress: Progress,
    *,
    random_seed: int = 0,
    fdr_threshold: float = 0.05,
) -> tuple[pd.DataFrame, SetComparison]:
    """Seed 001's experiment in one call: discover a set on the pooled tissues, then compare it with L1000's.

    ``discovery`` holds ``discover_landmarks``' m, penalty, ranking and DNN parameters; the
    discovery gets half of ``progress``' budget and the comparison what is left. Returns the
    discovered genes (``rank, gene, score``) and the comparison.
    """
    budget = progress.budget_left()
    found = progress.child("group-lasso DNN epoch", discovery["dnn"]["max_epochs"], budget / 2)
    table, _ = discover_landmarks(data, discovery["m"], discovery["penalty"], discovery["dnn"], found, discovery["ranking"])
    fits = progress.child("fit", 3 * len(model_params))
    compared = compare_landmark_sets(
        data, table.gene.tolist(), l1000, libraries, model_params, fits, random_seed=random_seed, fdr_threshold=fdr_threshold
    )
    return table, compared
