"""Benchmark: score N level-5 signatures from a GCTX through the calibrated cancer-type classifier.

Compares the streaming path used by ``out_signature_class_probabilities`` (classifier genes
only, a chunk of signatures at a time) with the naive path (read the whole matrix, then
predict), each in its own process so that peak RSS is measured per path. The last line
printed is JSON with signatures per second, peak RSS and their ratios.

    python benchmarks/stream_scoring.py --signatures 1000000
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory import peak_rss_mb  # noqa: E402
from l1k_assets.indication.classifier import ClassifierConfig, fit_calibrated_forest  # noqa: E402
from l1k_assets.indication.scoring import stream_probabilities  # noqa: E402
from l1k_assets.lincs.gctx import GctxAppender, read_gctx  # noqa: E402
from l1k_assets.synthetic.universe import build_universe  # noqa: E402


def prepare(workdir: Path, n_signatures: int, chunk: int, seed: int = 0) -> None:
    """Train a calibrated forest on planted-program deltas and write N signatures to a GCTX, in chunks."""
    universe = build_universe("default", seed)
    genes = universe.genes.loc[universe.genes.pr_is_lm == 1, ["pr_gene_id", "pr_gene_symbol"]]
    symbols = genes.pr_gene_symbol.tolist()
    gene_ids = genes.pr_gene_id.astype(str).tolist()
    rng = np.random.default_rng(seed)
    programs = np.zeros((len(universe.programs), len(symbols)))
    for k, program in enumerate(universe.programs.values()):
        programs[k, [symbols.index(s) for s in program.index]] = -program.to_numpy()
    labels = np.repeat(list(universe.programs), 60)
    x = np.repeat(programs, 60, axis=0) + rng.normal(0, 1.0, size=(len(labels), len(symbols)))
    config = ClassifierConfig(n_estimators=(100,), max_depth=(None,), min_samples_split=(2,), min_samples_leaf=(1,))
    forest = fit_calibrated_forest(x, labels, config)
    (workdir / "model.pkl").write_bytes(pickle.dumps({"forest": forest, "symbols": symbols}))
    pd.DataFrame({"gene_id": gene_ids, "gene_symbol": symbols}).to_parquet(workdir / "genes.parquet")
    # The file holds the classifier's genes plus as many others, as a level-5 file does.
    extra = [f"9{i:07d}" for i in range(len(gene_ids))]
    with GctxAppender(workdir / "level5.gctx", row_ids=gene_ids + extra, compression=None) as out:
        for start in range(0, n_signatures, chunk):
            n = min(chunk, n_signatures - start)
            which = rng.integers(0, len(programs), n)
            values = rng.normal(0, 1.0, size=(len(gene_ids) * 2, n)).astype(np.float32)
            values[: len(gene_ids)] += (programs[which].T * rng.uniform(0, 1.5, n)).astype(np.float32)
            out.append(pd.DataFrame(values, index=gene_ids + extra, columns=[f"sig{start + i:08d}" for i in range(n)]))


def run_path(workdir: Path, path: str, chunk: int) -> dict[str, float]:
    """Score every signature by one path; report time and this process's peak RSS."""
    saved = pickle.loads((workdir / "model.pkl").read_bytes())
    forest, symbols = saved["forest"], saved["symbols"]
    genes = pd.read_parquet(workdir / "genes.parquet")
    started = time.perf_counter()
    if path == "streaming":
        blocks = stream_probabilities(workdir / "level5.gctx", forest.predict_proba, forest.classes, symbols, genes, chunk)
        n = sum(len(b) for b in blocks)
    else:
        matrix = read_gctx(workdir / "level5.gctx", meta=False).data
        x = matrix.loc[genes.gene_id.astype(str)].to_numpy(dtype=np.float64).T
        n = len(forest.predict_proba(x))
    seconds = time.perf_counter() - started
    return {"signatures": n, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".l1k_home" / "bench" / "stream_scoring")
    parser.add_argument("--path", choices=["streaming", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.path:
        print(json.dumps(run_path(args.workdir, args.path, args.chunk)))
        return
    workdir = args.workdir / f"n{args.signatures}"
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "level5.gctx").exists():
        t0 = time.perf_counter()
        prepare(workdir, args.signatures, args.chunk)
        print(f"wrote {args.signatures} signatures in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results = {}
    for path in ("streaming", "naive"):
        command = [sys.executable, __file__, "--path", path, "--workdir", str(workdir), "--chunk", str(args.chunk)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[path] = json.loads(done.stdout.strip().splitlines()[-1])
        results[path]["signatures_per_s"] = results[path]["signatures"] / results[path]["seconds"]
        print(f"{path}: {results[path]}", file=sys.stderr)
    summary = {
        "benchmark": "stream_scoring",
        "signatures": args.signatures,
        "baseline": "naive: whole GCTX read into memory, then predict_proba",
        "streaming": results["streaming"],
        "naive": results["naive"],
        "throughput_ratio_streaming_over_naive": results["streaming"]["signatures_per_s"] / results["naive"]["signatures_per_s"],
        "peak_rss_ratio_streaming_over_naive": results["streaming"]["peak_rss_mb"] / results["naive"]["peak_rss_mb"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
