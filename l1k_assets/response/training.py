"""Seed 003's two training protocols, callable from a notebook: CSG2A pretrained on L1000, then fine-tuned to GDSC.

``pretrain_csg2a`` learns perturbed from basal L1000 profiles with and without the STRING
prior (and reports how far each beats copying the basal profile); ``finetune_csg2a``
cross-validates every model of Table 1 in one split scheme and trains the final CSG2A on all
pairs, unless an identical final model (same pretrained weights, pairs and settings) is
offered for reuse. Both take the settings of ``response.settings``, a ``TorchSetup`` and a
``Progress`` that carries the wall-clock budget, and return a typed result that says what of
it is recorded.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.model_record import ModelRecord
from l1k_assets.progress import Progress
from l1k_assets.response import benchmark as bm
from l1k_assets.response.settings import FinetuneSettings, PretrainSettings, StructureSettings
from l1k_assets.torch_setup import TorchSetup

if TYPE_CHECKING:
    from l1k_assets.response.csg2a import CSG2ARegressor

PPI_FILE = "ppi.npy"
VARIANTS = ("with_ppi", "without_ppi", "plain")  # the attention network with and without STRING, the plain linear one
# The final models trained on all pairs: CSG2A (its files unprefixed, what predicts) and, for seed 003's
# attention without the prior (§4.4, "retrained without the PPI prior"), the no-PPI ablation under this prefix.
FINAL_MODELS = {"with prior": "csg2a", "without prior": "csg2a_no_ppi"}  # the kind of attention map → model
NO_PPI_PREFIX = "csg2a_no_ppi."


def structure_features(smiles: pd.Series, settings: StructureSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features of every parsable SMILES (compound id × features) and the excluded compounds with reasons."""
    from l1k_assets.response.conditions import featurise, parse_smiles

    parsed = parse_smiles(smiles)
    options = {"n_bits": settings.n_bits} if settings.featuriser == "morgan" else {}
    return featurise(parsed, settings.featuriser, **options), parsed.excluded


def ppi_prior(links: str | Path, info: str | Path, symbols: list[str], min_score: int) -> np.ndarray:
    """The landmark × landmark STRING adjacency of edges above ``min_score``, from STRING's links and info files."""
    from l1k_assets.response.csg2a import ppi_adjacency
    from l1k_assets.response.readers import read_string_edges

    return ppi_adjacency(read_string_edges(links, info), symbols, min_score)


def npy_bytes(array: np.ndarray) -> bytes:
    """An array as ``.npy`` bytes (no pickle), for a checkpoint file."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@dataclass
class PretrainResult:
    """Both pretrained networks, their validation errors against copying the basal profile, and the prior."""

    table: pd.DataFrame  # one row per variant: val_mse, basal_copy_mse, epochs, seconds, stopped_by_budget
    files: dict[str, bytes]
    ppi: np.ndarray
    genes: list[str]
    symbols: list[str]
    structures: StructureSettings
    releases: list[str]
    n_pairs_available: int
    n_excluded_compounds: int

    def record(self) -> ModelRecord:
        """Both variants' files and the prior as the checkpoint; their validation errors as metrics."""
        rows = self.table.to_dict("records")
        return ModelRecord(
            output=self.table,
            files=self.files | {PPI_FILE: npy_bytes(self.ppi)},
            metrics={f"{r['variant']}_val_mse": r["val_mse"] for r in rows}
            | {"basal_copy_mse": float(self.table.basal_copy_mse.iloc[0])},
            manifest={"genes": self.genes, "symbols": self.symbols, "structures": self.structures.model_dump()},
            facts={
                "n_pairs": int(self.table.n_pairs.iloc[0]),
                "n_pairs_available": self.n_pairs_available,
                "excluded_compounds": self.n_excluded_compounds,
                "releases": self.releases,
                "ppi_edges": int(self.table.n_ppi_edges.iloc[0]),
                "epochs": {r["variant"]: r["epochs"] for r in rows},
                "seconds": {r["variant"]: r["seconds"] for r in rows},
            },
            stopped_by_budget=bool(self.table.stopped_by_budget.any()),
        )


def pretrain_csg2a(
    pairs_by_release: Mapping[str, pd.DataFrame],
    perturbagens: pd.DataFrame,
    symbols_by_gene: Mapping[str, str],
    string_files: tuple[str | Path, str | Path],
    settings: PretrainSettings,
    setup: TorchSetup,
    progress: Progress,
) -> PretrainResult:
    """Pretrain CSG2A on the chosen releases' pairs, with the STRING prior and without it.

    ``perturbagens`` gives each ``pert_id`` its ``canonical_smiles``; ``symbols_by_gene`` maps
    landmark gene ids to the symbols STRING names; ``string_files`` are its links and info
    files. A seeded sample of ``max_pairs`` pairs is trained on, a seeded
    ``validation_fraction`` of them held out; the two pretrainings share ``progress``'s budget.
    """
    from l1k_assets.response.csg2a import CSG2APretrainer
    from l1k_assets.response.pretraining import pretraining_arrays

    chosen = [r for r in pairs_by_release if not settings.releases or r in settings.releases]
    if not chosen:
        raise DataError(
            f"none of the releases {settings.releases} has pretraining pairs; materialized: {sorted(pairs_by_release)}"
        )
    pairs = pd.concat([pairs_by_release[r] for r in chosen], ignore_index=True)
    n_available = len(pairs)
    if settings.max_pairs is not None and len(pairs) > settings.max_pairs:
        keep = np.sort(np.random.default_rng(setup.seed).choice(len(pairs), settings.max_pairs, replace=False))
        pairs = pairs.iloc[keep].reset_index(drop=True)
    compounds, excluded = structure_features(perturbagens.canonical_smiles.dropna(), settings.structures)
    x, y, genes = pretraining_arrays(pairs, compounds)
    symbols = [symbols_by_gene[g] for g in genes]
    ppi = ppi_prior(*string_files, symbols, settings.min_ppi_score)
    validation = np.random.default_rng(setup.seed).random(len(x)) < settings.validation_fraction
    setup.configure()
    options = settings.network.model_dump(exclude={"head_hidden"}) | setup.torch_options()  # no heads in pretraining
    basal_mse = float(np.mean((x[validation][:, : len(genes)] - y[validation]) ** 2))
    rows, files = [], {}
    priors = {"with_ppi": ppi, "without_ppi": None, "plain": None}
    for done, variant in enumerate(VARIANTS, start=1):
        budget = progress.budget_left() / (len(VARIANTS) - done + 1)
        epochs = progress.child(variant, settings.network.max_epochs, budget)
        model = CSG2APretrainer(**options, plain=variant == "plain").fit(
            x[~validation], y[~validation], x[validation], y[validation], ppi=priors[variant], progress=epochs
        )
        val_mse = float(np.mean((model.predict(x[validation]) - y[validation]) ** 2))
        rows.append(
            {
                "variant": variant,
                "val_mse": val_mse,
                "basal_copy_mse": basal_mse,
                "epochs": len(model.history_),
                "seconds": model.training_seconds_,
                "stopped_by_budget": model.stopped_by_budget_,
            }
        )
        files |= {f"{variant}.{name}": data for name, data in model.checkpoint_files().items()}
        progress.update(done, val_mse=val_mse)
    table = pd.DataFrame(rows).assign(n_pairs=len(x), n_compounds=int(pairs.pert_id.nunique()), n_ppi_edges=int(ppi.sum() // 2))
    return PretrainResult(table, files, ppi, genes, symbols, settings.structures, chosen, n_available, len(excluded))


def final_model(files: Mapping[str, bytes], model: str = "csg2a") -> CSG2ARegressor:
    """One of a fine-tuned checkpoint's final models (``FINAL_MODELS``): CSG2A, or CSG2A retrained without the prior."""
    from l1k_assets.response.csg2a import CSG2ARegressor

    if model not in FINAL_MODELS.values():
        raise DataError(f"the fine-tuned checkpoint holds {list(FINAL_MODELS.values())}, not {model!r}")
    if model == "csg2a":
        return CSG2ARegressor.from_checkpoint({k: b for k, b in files.items() if not k.startswith(NO_PPI_PREFIX)})
    own = {k.removeprefix(NO_PPI_PREFIX): b for k, b in files.items() if k.startswith(NO_PPI_PREFIX)}
    if not own:
        raise DataError("this fine-tuned checkpoint predates the final no-PPI model: rematerialize model_csg2a_finetuned")
    return CSG2ARegressor.from_checkpoint(own)


def load_pretrained(files: Mapping[str, bytes]) -> bm.Pretrained:
    """The pretrained networks (attention with and without the prior, plain linear) and the prior, from a checkpoint."""
    ppi = np.load(io.BytesIO(files[PPI_FILE]), allow_pickle=False)
    by_variant = {v: {k.removeprefix(f"{v}."): b for k, b in files.items() if k.startswith(f"{v}.")} for v in VARIANTS}
    return bm.Pretrained(by_variant["with_ppi"], by_variant["without_ppi"], ppi, by_variant["plain"])


def gdsc_response_data(
    response_file: str | Path, expression_file: str | Path, drug_conditions: pd.DataFrame, symbols: list[str]
) -> bm.ResponseData:
    """GDSC's pairs, expression on the pretrained network's ``symbols`` and the drugs' structure features, cleaned."""
    from l1k_assets.response.readers import read_gdsc_expression, read_gdsc_responses

    structures = drug_conditions.set_index("drug").drop(columns=["dose_scaled", "time_scaled"])
    return bm.response_data(read_gdsc_responses(response_file), read_gdsc_expression(expression_file), structures, symbols)


def final_fingerprint(pretrained_digests: Mapping[str, str], data: bm.ResponseData, settings: bm.BenchmarkSettings) -> str:
    """What the final models depend on: the pretrained weights, the pairs and the network settings (not the scheme)."""
    facts = {"pretrained": dict(pretrained_digests), "settings": repr(settings), "models": list(FINAL_MODELS.values())}
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode())
    for frame in (data.responses, data.expression, data.structures):
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ReusedFinal:
    """A final CSG2A another scheme trained on the same pairs with the same settings: the same model."""

    scheme: str
    files: dict[str, bytes]
    stopped_by_budget: bool


@dataclass
class FinetuneResult:
    """Per-fold errors of every model in one scheme, and the final models trained on all pairs (or reused)."""

    scheme: str
    per_fold: pd.DataFrame
    final_files: dict[str, bytes]
    final_trained_in: str
    final_stopped: bool
    fingerprint: str
    symbols: list[str]
    n_pairs: int
    excluded: dict[str, int]
    cv_seconds: float

    def record(self) -> ModelRecord:
        """The final CSG2A as the checkpoint (with its fingerprint); per-model mean RMSE, PCC and seconds, and paired t-tests."""
        means = self.per_fold.groupby("model", sort=False)[["rmse", "pcc", "seconds"]].mean()
        metrics = {f"{m}.{k}": float(v) for m, row in means.iterrows() for k, v in row.items()}
        cv_stopped = bool(self.per_fold.stopped_by_budget.any())
        return ModelRecord(
            output=self.per_fold,
            files=self.final_files,
            metrics=metrics | {"cv_seconds": self.cv_seconds},
            manifest={"genes": self.symbols, "final_fingerprint": self.fingerprint, "final_stopped": self.final_stopped},
            facts={
                "n_pairs": self.n_pairs,
                "excluded_pairs": self.excluded,
                "n_folds_run": int(self.per_fold.fold.nunique()),
                "cv_stopped_by_budget": cv_stopped,
                "final_stopped": self.final_stopped,
                "final_trained_in": self.final_trained_in,
            },
            tables={"rmse_pcc": means, "figure_2_paired_t": bm.paired_t_tests(self.per_fold)},
            stopped_by_budget=cv_stopped or self.final_stopped,
        )


def finetune_csg2a(
    scheme: str,
    data: bm.ResponseData,
    pretrained: bm.Pretrained,
    pretrained_digests: Mapping[str, str],
    settings: FinetuneSettings,
    setup: TorchSetup,
    progress: Progress,
    reusable: Callable[[str], ReusedFinal | None] = lambda fingerprint: None,
    rf_jobs: int = -1,
) -> FinetuneResult:
    """Cross-validate ``settings.models`` in ``scheme``, then train (or reuse) the final CSG2A on all pairs.

    ``data`` comes from ``benchmark.response_data`` on the pretrained network's genes;
    ``reusable`` is asked, by fingerprint, for an identical final model trained in another
    scheme. Each network fit has ``time_budget_seconds``; folds run in ``n_jobs`` processes.
    """
    from l1k_assets.response.csg2a import CSG2APretrainer

    n_structure = CSG2APretrainer.from_checkpoint(pretrained.with_ppi).config_.n_structure
    if data.structures.shape[1] != n_structure:
        raise DataError(
            f"the drugs have {data.structures.shape[1]} structure features but the pretrained network expects "
            f"{n_structure}: use the same structure settings for both"
        )
    same_names = {"n_folds", "validation_fraction", "rf_trees", "rf_max_features", "svm_c", "svm_max_train"}
    bench = bm.BenchmarkSettings(
        **settings.network.model_dump(),
        **settings.model_dump(include=same_names),
        seed=setup.seed,
        ablation_schemes=tuple(settings.ablation_schemes),
        device=setup.device,
        fit_budget_seconds=settings.time_budget_seconds,
        rf_jobs=rf_jobs,
    )
    setup.configure()
    cv = progress.child(f"cv {scheme}", settings.n_folds)
    per_fold = bm.run_benchmark(data, pretrained, [scheme], settings.models, bench, n_jobs=settings.n_jobs, progress=cv)
    fingerprint = final_fingerprint(pretrained_digests, data, bench)
    reused = reusable(fingerprint)
    if reused is None:
        x, y = data.arrays()
        holdout = np.random.default_rng(setup.seed).random(len(y)) < settings.validation_fraction
        files, stopped = {}, False
        for name in FINAL_MODELS.values():
            final = bm.FACTORIES[name](bench, data.n_genes, pretrained)
            training = progress.child(f"final {name} {scheme}", bench.max_epochs, settings.time_budget_seconds)
            final.fit(x[~holdout], y[~holdout], x[holdout], y[holdout], progress=training)
            prefix = "" if name == "csg2a" else NO_PPI_PREFIX
            files |= {prefix + k: b for k, b in final.checkpoint_files().items()}
            stopped = stopped or bool(final.stopped_by_budget_)
        reused = ReusedFinal(scheme, files, stopped)
    return FinetuneResult(
        scheme,
        per_fold,
        reused.files,
        reused.scheme,
        reused.stopped_by_budget,
        fingerprint,
        list(data.expression.columns),
        len(data.responses),
        data.excluded,
        cv.elapsed,
    )
