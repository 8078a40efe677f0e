"""Benchmark: one edge-attentive GNN layer's training step, ours vs the two obvious formulations.

The layer computes h'_i = relu(Σ_{j→i} w_ij h_j + b_i) with a free weight per edge on seed
002's gene graph (every landmark → every gene, each non-landmark ← its top/bottom-k
non-landmarks). Three implementations of that same function are compared:

* ours (``l1k_assets.inference.gnn.EdgeAttentiveLayer``): a dense (N × L) landmark block as one
  matrix product plus a CSR sparse product for the similarity edges;
* message_passing: a torch-geometric ``MessagePassing`` layer, one message w_e · h_src per
  edge and sum aggregation, over the same ~13 M edges;
* dense_masked: the seed's public-code formulation, an N × N weight times the adjacency mask.

A training step is forward + backward of one layer on a batch (gradients for the weights and
for the input states, as inside a deeper network), on CPU. Each variant runs in its own
subprocess with ``--threads`` torch threads (default 1: on a shared host, OpenMP threads
waiting for each other otherwise dominate the timings): time is the median of ``--repeats``
steps after one warm-up step. Memory is the layer's resident footprint: RSS just after the
layer is built minus RSS just before (parameters, masks, topology), plus the peak growth
during the steps (activations, gradients). The peak is VmHWM, reset through
/proc/self/clear_refs once the layer exists, so construction temporaries are not counted
(``ru_maxrss`` would not do: Linux carries it over from the parent across fork and exec).
Workers run with glibc's mmap threshold fixed (``--malloc-mmap-threshold``, 1 MiB) so freed
tensors go back to the OS and RSS tracks live tensors; with the adaptive default, freed
blocks under 32 MiB (our layer's states) stay resident and count as if still in use. A
variant whose estimated memory at full size exceeds ``--memory-budget-gb`` is measured on a
reduced graph (``--reduced-genes``, landmarks scaled alike, same k) and extrapolated:
message passing linearly in the number of edges (it materialises per-edge messages), dense
quadratically in N (its weight, mask and their gradients are N × N). The three layers are
first checked to give the same output (to 1e-5) on a small shared instance.

    python benchmarks/gnn_layer.py --genes 12320 --landmarks 970 --k 50 --batch 8

Human-readable lines go to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.nn import MessagePassing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory import status_mb  # noqa: E402
from l1k_assets.inference.gnn import EdgeAttentiveLayer, GraphTopology  # noqa: E402
from l1k_assets.inference.graph import build_gene_graph  # noqa: E402

VARIANTS = ("ours", "message_passing", "dense_masked")
BASELINES = {
    "message_passing": "torch_geometric MessagePassing: per-edge message w_e·h_src, add aggregation, one weight per edge",
    "dense_masked": "dense N×N weight multiplied by the 0/1 adjacency mask, then a dense matmul (the seed's public code)",
}
MEMORY_METHOD = (
    "fresh subprocess per variant: peak RSS (VmHWM, reset via clear_refs after the layer is built) during the steps "
    "minus the RSS before the layer was built"
)


class PerEdgeLayer(MessagePassing):
    """The same layer as torch-geometric message passing: one message per edge, summed at the destination."""

    def __init__(self, n_genes: int, src: torch.Tensor, dst: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__(aggr="add")
        self.n_genes = n_genes
        self.register_buffer("edge_index", torch.stack([src, dst]).long())
        self.weight = torch.nn.Parameter(weight.clone())
        self.bias = torch.nn.Parameter(bias.clone())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, batch, hidden = h.shape
        out = self.propagate(self.edge_index, x=h.reshape(n, batch * hidden), edge_weight=self.weight, size=(n, n))
        return torch.relu(out.view(n, batch, hidden) + self.bias[:, None, :])

    def message(self, x_j: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        return edge_weight[:, None] * x_j


class DenseMaskedLayer(torch.nn.Module):
    """The same layer as the seed's public code: a full N × N weight masked by the adjacency."""

    def __init__(self, n_genes: int, src: torch.Tensor, dst: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        full = torch.zeros(n_genes, n_genes, dtype=weight.dtype)
        full[dst, src] = weight
        mask = torch.zeros(n_genes, n_genes, dtype=torch.bool)
        mask[dst, src] = True
        self.weight = torch.nn.Parameter(full)
        self.register_buffer("mask", mask)
        self.bias = torch.nn.Parameter(bias.clone())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, batch, hidden = h.shape
        out = (self.weight * self.mask) @ h.reshape(n, batch * hidden)
        return torch.relu(out.view(n, batch, hidden) + self.bias[:, None, :])


def random_graph(n_genes: int, n_landmarks: int, k: int, seed: int) -> dict[str, np.ndarray]:
    """Seed 002's graph built by ``build_gene_graph`` on random expression (topology is all that matters here)."""
    rng = np.random.default_rng(seed)
    landmarks = np.sort(rng.choice(n_genes, n_landmarks, replace=False))
    edges = build_gene_graph(rng.normal(size=(64, n_genes)).astype(np.float32), landmarks, k=k)
    return {
        "landmarks": landmarks,
        "src": edges.src.to_numpy(),
        "dst": edges.dst.to_numpy(),
        "is_landmark": (edges.kind == "landmark").to_numpy(dtype=bool),
    }


def build_layer(variant: str, graph: dict[str, np.ndarray], hidden: int, dtype: torch.dtype) -> torch.nn.Module:
    """A freshly initialised layer of ``variant`` on ``graph`` (baseline weights are random: only time and memory count)."""
    n_genes = int(max(graph["src"].max(), graph["dst"].max())) + 1
    if variant == "ours":
        sparse = ~graph["is_landmark"]
        topology = GraphTopology(n_genes, graph["landmarks"].tolist(), graph["src"][sparse], graph["dst"][sparse])
        return EdgeAttentiveLayer(topology, hidden).to(dtype)
    src, dst = torch.as_tensor(graph["src"], dtype=torch.long), torch.as_tensor(graph["dst"], dtype=torch.long)
    weight = torch.empty(len(src), dtype=dtype).uniform_(-0.05, 0.05)
    bias = torch.zeros(n_genes, hidden, dtype=dtype)
    layer_class = PerEdgeLayer if variant == "message_passing" else DenseMaskedLayer
    return layer_class(n_genes, src, dst, weight, bias)


def measure(variant: str, graph_path: Path, batch: int, hidden: int, repeats: int) -> dict[str, Any]:
    """Time forward + backward of one layer; memory as peak RSS growth after the graph was loaded."""
    with np.load(graph_path) as data:
        graph = {name: data[name] for name in data.files}
    torch.manual_seed(0)
    before = status_mb("VmRSS")
    layer = build_layer(variant, graph, hidden, torch.float32)
    Path("/proc/self/clear_refs").write_text("5")  # peak := current RSS (layer included, construction temporaries not)
    n_genes = int(max(graph["src"].max(), graph["dst"].max())) + 1
    h = torch.randn(n_genes, batch, hidden, requires_grad=True)
    direction = torch.randn(n_genes, batch, hidden)
    seconds = []
    for _ in range(repeats + 1):
        layer.zero_grad(set_to_none=True)
        h.grad = None
        started = time.perf_counter()
        (layer(h) * direction).sum().backward()
        seconds.append(time.perf_counter() - started)
    peak = status_mb("VmHWM")
    return {
        "variant": variant,
        "genes": n_genes,
        "landmarks": len(graph["landmarks"]),
        "edges": len(graph["src"]),
        "seconds": float(np.median(seconds[1:])),
        "seconds_all": seconds[1:],
        "memory_mb": peak - before,
        "peak_rss_mb": peak,
    }


def run_worker(variant: str, graph_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``measure`` in a fresh subprocess, so each variant's peak RSS is its own."""
    command = [sys.executable, __file__, "--worker", variant, "--graph-file", str(graph_path)]
    command += ["--batch", str(args.batch), "--hidden", str(args.hidden), "--repeats", str(args.repeats)]
    command += ["--threads", str(args.threads)]
    env = dict(os.environ)
    if args.malloc_mmap_threshold > 0:
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold)
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    size = f"N={result['genes']:6d} edges={result['edges']:>11,d}"
    say(f"{variant:16s} {size}: {result['seconds']:.3f} s/step, {result['memory_mb']:.0f} MB")
    return result


def estimated_bytes(variant: str, n_genes: int, n_edges: int, batch: int, hidden: int) -> float:
    """Rough float32 footprint used to decide whether a variant fits the budget at a given size."""
    if variant == "message_passing":
        return 4.0 * n_edges * batch * hidden * 4  # gathered sources, messages and both gradients: E × B·d each
    if variant == "dense_masked":
        return float(n_genes) ** 2 * (4 * 4 + 1)  # weight, masked weight, their gradients, the bool mask
    return 0.0


def check_agreement(seed: int = 0) -> dict[str, float]:
    """Max |difference| of each baseline's output from ours on a small shared instance (float64, same weights)."""
    graph = random_graph(300, 30, 5, seed)
    torch.manual_seed(seed)
    ours = build_layer("ours", graph, 8, torch.float64)
    with torch.no_grad():
        ours.bias.normal_()
    src, dst, weight = ours.edge_list()
    h = torch.randn(300, 3, 8, dtype=torch.float64)
    diffs = {}
    with torch.no_grad():
        reference = ours(h)
        for name, layer_class in (("message_passing", PerEdgeLayer), ("dense_masked", DenseMaskedLayer)):
            other = layer_class(300, src, dst, weight, ours.bias)
            diffs[name] = float((other(h) - reference).abs().max())
    return diffs


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=12_320)
    parser.add_argument("--landmarks", type=int, default=970)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per variant (1 avoids OpenMP contention)")
    parser.add_argument(
        "--malloc-mmap-threshold",
        type=int,
        default=1 << 20,
        help="glibc mmap threshold in bytes for the workers (0: glibc's adaptive default)",
    )
    parser.add_argument("--reduced-genes", type=int, default=2_000)
    parser.add_argument("--memory-budget-gb", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--graph-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(measure(args.worker, args.graph_file, args.batch, args.hidden, args.repeats)))
        return

    agreement = check_agreement(args.seed)
    say(f"agreement with ours on a 300-gene instance: {agreement}")
    if max(agreement.values()) > 1e-5:
        raise SystemExit(f"the layers disagree: {agreement}")
    reduced_landmarks = max(1, round(args.landmarks * args.reduced_genes / args.genes))
    budget = args.memory_budget_gb * 2**30
    with tempfile.TemporaryDirectory() as tmp:
        paths: dict[str, Path] = {}
        edges: dict[str, int] = {}
        for size, (n, n_lm) in {"full": (args.genes, args.landmarks), "reduced": (args.reduced_genes, reduced_landmarks)}.items():
            started = time.perf_counter()
            graph = random_graph(n, n_lm, args.k, args.seed)
            paths[size], edges[size] = Path(tmp) / f"{size}.npz", len(graph["src"])
            np.savez(paths[size], **graph)
            say(f"{size} graph: {n} genes, {n_lm} landmarks, {edges[size]:,} edges ({time.perf_counter() - started:.1f} s)")
        measured = {"ours": {"full": run_worker("ours", paths["full"], args)}}
        full: dict[str, dict[str, Any]] = {"ours": {**measured["ours"]["full"], "extrapolated": False}}
        for variant in BASELINES:
            if estimated_bytes(variant, args.genes, edges["full"], args.batch, args.hidden) <= budget:
                measured[variant] = {"full": run_worker(variant, paths["full"], args)}
                full[variant] = {**measured[variant]["full"], "extrapolated": False}
                continue
            if "reduced" not in measured["ours"]:
                measured["ours"]["reduced"] = run_worker("ours", paths["reduced"], args)
            small = run_worker(variant, paths["reduced"], args)
            measured[variant] = {"reduced": small}
            scale = edges["full"] / edges["reduced"] if variant == "message_passing" else (args.genes / args.reduced_genes) ** 2
            full[variant] = {
                "seconds": small["seconds"] * scale,
                "memory_mb": small["memory_mb"] * scale,
                "extrapolated": True,
                "scale": scale,
                "from_genes": args.reduced_genes,
            }
    ratios = {
        "speed_ours_vs_message_passing": full["message_passing"]["seconds"] / full["ours"]["seconds"],
        "memory_dense_masked_vs_ours": full["dense_masked"]["memory_mb"] / full["ours"]["memory_mb"],
        "speed_ours_vs_dense_masked": full["dense_masked"]["seconds"] / full["ours"]["seconds"],
        "memory_message_passing_vs_ours": full["message_passing"]["memory_mb"] / full["ours"]["memory_mb"],
    }
    if "reduced" in measured["ours"]:
        ours_small = measured["ours"]["reduced"]
        for variant in BASELINES:
            if "reduced" in measured[variant]:
                ratios[f"{variant}_measured_at_reduced_size_speed"] = (
                    measured[variant]["reduced"]["seconds"] / ours_small["seconds"]
                )
                ratios[f"{variant}_measured_at_reduced_size_memory"] = (
                    measured[variant]["reduced"]["memory_mb"] / ours_small["memory_mb"]
                )
    for name, value in ratios.items():
        say(f"{name}: {value:.1f}×")
    n_sparse = edges["full"] - args.genes * args.landmarks
    result = {
        "genes": args.genes,
        "landmarks": args.landmarks,
        "k": args.k,
        "batch": args.batch,
        "hidden": args.hidden,
        "threads": args.threads,
        "edges": {"landmark": args.genes * args.landmarks, "sparse": n_sparse, "total": edges["full"]},
        "weights_per_layer": {"ours": edges["full"], "dense_masked": args.genes**2},
        "baselines": BASELINES,
        "memory_method": MEMORY_METHOD,
        "malloc_mmap_threshold": args.malloc_mmap_threshold,
        "agreement_max_abs_diff": agreement,
        "measured": measured,
        "full_size": full,
        "ratios": ratios,
        "goals_met": {
            "speed_vs_message_passing_10x": ratios["speed_ours_vs_message_passing"] >= 10,
            "memory_vs_dense_5x": ratios["memory_dense_masked_vs_ours"] >= 5,
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
