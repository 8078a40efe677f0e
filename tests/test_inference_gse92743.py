"""Seed 002's pipeline under the paper profile on pairs shaped like GSE92743: its 12,320 genes and 970 landmarks.

The gene ids are the real ones (``../shared/data/GeneExpressionGNN``: the RNA-seq matrix's
12,320 rows, the 970 landmarks they hold, CLUE's 978); only the values are generated, for a
handful of samples, so the test runs the paper's model sizes (the GNN at d = 64 over 12,320
nodes, the MLP as wide as its output) in seconds rather than the paper's 2,500 samples.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.inference.assets import GraphSettings
from l1k_assets.inference.benchmark import constant_model_row
from l1k_assets.inference.data import inference_arrays
from l1k_assets.inference.graph import build_gene_graph, graph_samples
from l1k_assets.inference.pairs import L1000_PREFIX, RNASEQ_PREFIX
from l1k_assets.inference.split import split_samples
from l1k_assets.inference.training import InferenceSettings, train_inference_model
from l1k_assets.lincs.metadata import landmark_gene_ids, read_gene_info
from l1k_assets.progress import Progress
from l1k_assets.torch_setup import TorchSetup
from resources.profile import RunProfile

N_SAMPLES = 40  # by seed 002's fractions (2,500 / 500 / 176 of 3,176): 31 train, 6 validation, 3 test


@pytest.fixture(scope="module")
def gse92743_shaped(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Pairs on the real id lists, in the files' gene order: each gene its own level (as log RPKM has), each
    non-landmark moving with a noisy mix of three landmarks."""
    folder = shared_data / "GeneExpressionGNN"
    genes = (folder / "geneid_12320.txt").read_text().split()
    landmarks_970 = (folder / "lmid_970.txt").read_text().split()
    clue_978 = landmark_gene_ids(read_gene_info(folder / "geneinfo_beta.txt"))
    rng = np.random.default_rng(0)
    state = rng.normal(size=(N_SAMPLES, len(landmarks_970)))
    level = rng.normal(6.0, 2.0, size=len(genes))
    parents = rng.integers(0, len(landmarks_970), size=(len(genes), 3))
    y = level + state[:, parents].mean(axis=2) + 0.3 * rng.normal(size=(N_SAMPLES, len(genes)))
    landmark_columns = [genes.index(g) for g in landmarks_970]
    y[:, landmark_columns] = level[landmark_columns] + state
    x = y[:, landmark_columns] + 0.05 * rng.normal(size=state.shape)  # L1000 reads the landmarks with a little noise
    samples = pd.Index([f"GTEX-{i:04d}" for i in range(N_SAMPLES)])
    pairs = pd.concat(
        [
            pd.DataFrame(x, index=samples, columns=[L1000_PREFIX + g for g in landmarks_970]),
            pd.DataFrame(y, index=samples, columns=[RNASEQ_PREFIX + g for g in genes]),
        ],
        axis=1,
    )
    split = split_samples(samples).rename_axis("sample_id").reset_index()
    return pairs, split, clue_978


def test_seed_002_runs_under_the_paper_profile_on_the_real_gene_space(gse92743_shaped) -> None:
    pairs, split, clue_978 = gse92743_shaped
    data = inference_arrays(pairs, split)
    assert (len(data.landmark_ids), len(data.target_ids)) == (970, 12_320)
    paper_graph = RunProfile(name="paper").apply(GraphSettings())
    samples = graph_samples(data, paper_graph.samples)
    graph = build_gene_graph(
        samples, data.landmark_positions, k=paper_graph.k, center=paper_graph.center, self_neighbour=paper_graph.self_neighbour
    )
    non_landmarks = 12_320 - 970
    assert (graph.kind != "landmark").sum() == 2 * 50 * non_landmarks  # top and bottom 50 per non-landmark gene
    assert (graph.src == graph.dst).sum() == 12_320  # every node aggregates itself: landmarks by their own edge

    settings = RunProfile(name="paper").apply(InferenceSettings(max_epochs=2))
    assert (settings.gnn_hidden, settings.gnn_layers, settings.mlp_hidden, settings.lr_grid) == (64, 4, None, [1e-3, 5e-4, 1e-4])
    rows = {}
    for kind in ("lr", "knn", "mlp", "gnn"):
        run = train_inference_model(kind, pairs, split, graph, clue_978, settings, TorchSetup(), Progress(kind))
        rows[kind] = run.row
        assert len(run.coverage.describe()["landmarks_missing"]) == 8  # the 8 of CLUE's 978 that GSE92743 lacks
        assert run.row["n_genes"] == 12_320 and np.isfinite(run.row["error_mean"])
        assert run.row["n_ranking_genes"] >= 970  # the ranking correlation adds the 970 landmark transcripts
        if kind == "gnn":  # seed 002 Methods: 'The total number of trainable parameters was 56 284 193'
            assert sum(p.numel() for p in run.model.model_.module_.parameters()) == 56_284_193
    constant = constant_model_row(data.y["test"], "L1000 (970)", data.landmark_mask())
    assert all(row["error_mean"] < constant["error_mean"] for row in rows.values()), (constant["error_mean"], rows)
    assert all(row["scc_mean"] > 0.8 for row in rows.values())  # every gene's level is learnt
    assert {len(json.loads(rows[k]["lr_scores"])) for k in ("mlp", "gnn")} == {3}  # the paper's three learning rates
