"""Benchmark: one up/down connectivity query over N level-5 signatures through the rank index.

Generates a level-5-like GCTX of N signatures × 978 landmark genes (seeded, written block by
block), with a planted set of signatures that reverse the query; builds the rank index; runs a
150-up/150-down query (WTCS + NCS, then RGES, XSum, XCos) and takes the median of a few runs,
sig_info aligned to the index once beforehand (timed apart: a session does it once per index);
and times a per-signature NumPy transcription of WTCS on a subsample to compare rates. Build and
query each run in their own process so each peak RSS is its own. Human lines go to stderr; the
last stdout line is JSON.

    python benchmarks/connectivity_query.py --signatures 1000000
    python benchmarks/connectivity_query.py --signatures 1000000 --queries 100   # + 100 queries alone vs one batch
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory import peak_rss_mb  # noqa: E402
from l1k_assets.lincs.gctx import GctxAppender, read_gctx  # noqa: E402
from l1k_assets.search.connectivity import (  # noqa: E402
    METHODS,
    SignatureTable,
    ranked_signatures,
    score_table,
    score_tables,
    search,
)
from l1k_assets.search.rank_index import RankIndex, build_rank_index  # noqa: E402
from l1k_assets.search.session import queries_per_pass  # noqa: E402

N_GENES = 978
QUERY_SIZE = 150
PLANTED_EVERY = 1000  # one signature in a thousand reverses the query
CELLS = ["A375", "A549", "HA1E", "HCC515", "HEPG2", "HT29", "MCF7", "PC3", "VCAP", "NPC"]


def gene_ids() -> list[str]:
    return [str(10_000 + i) for i in range(N_GENES)]


def query(seed: int) -> tuple[list[str], list[str]]:
    """The benchmark's up and down sets: 150 + 150 distinct genes, seeded."""
    genes = np.random.default_rng(seed + 1).permutation(gene_ids())
    return genes[:QUERY_SIZE].tolist(), genes[QUERY_SIZE : 2 * QUERY_SIZE].tolist()


def sig_info(n: int) -> pd.DataFrame:
    """Signature annotations as sig_info has them: cell line, perturbagen type, dose, time."""
    i = np.arange(n)
    return pd.DataFrame(
        {
            "sig_id": [f"SIG{j:08d}" for j in i],
            "pert_id": [f"BRD-K{j % 20_000:08d}" for j in i],
            "pert_iname": [f"compound-{j % 20_000}" for j in i],
            "pert_type": np.where(i % 7 == 0, "trt_sh", "trt_cp"),
            "cell_id": np.asarray(CELLS)[i % len(CELLS)],
            "pert_dose": np.asarray([0.04, 0.12, 0.37, 1.11, 3.33, 10.0])[i % 6],
            "pert_time": np.where(i % 2 == 0, 6.0, 24.0),
        }
    )


def generate(path: Path, n: int, seed: int, block: int = 20_000) -> None:
    """N signatures of N(0, 1) z-scores, every PLANTED_EVERY-th one shifted against the query."""
    rng = np.random.default_rng(seed)
    up, down = query(seed)
    rows = pd.Index(gene_ids())
    up_at, down_at = rows.get_indexer(up), rows.get_indexer(down)
    with GctxAppender(path, row_ids=rows.tolist(), compression=None) as out:
        for start in range(0, n, block):
            width = min(block, n - start)
            values = rng.standard_normal((N_GENES, width), dtype=np.float32)
            planted = np.flatnonzero((np.arange(start, start + width) % PLANTED_EVERY) == 0)
            values[np.ix_(up_at, planted)] -= 1.5
            values[np.ix_(down_at, planted)] += 1.5
            out.append(pd.DataFrame(values, index=rows, columns=[f"SIG{j:08d}" for j in range(start, start + width)]))


def run_build(workdir: Path) -> dict[str, float]:
    started = time.perf_counter()
    build_rank_index(workdir / "level5.gctx", workdir / "level5.rank.h5", chunk_size=20_000)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def run_query(workdir: Path, n: int, seed: int, repeats: int) -> dict[str, object]:
    """First query (JIT cache load included), then the median of ``repeats`` for each method."""
    up, down = query(seed)
    meta = sig_info(n)
    with RankIndex(workdir / "level5.rank.h5") as index:
        started = time.perf_counter()
        signatures = SignatureTable.align(index, meta)
        align_s = time.perf_counter() - started
        started = time.perf_counter()
        first = search(index, up, down, "wtcs", sig_info=signatures, top=50)
        first_s = time.perf_counter() - started
        medians, cpu_medians = {}, {}
        for method in METHODS:
            times, cpu = [], []
            for _ in range(repeats):
                started, cpu_started = time.perf_counter(), time.process_time()
                search(index, up, down, method, sig_info=signatures, top=50)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
            medians[method], cpu_medians[method] = statistics.median(times), statistics.median(cpu)
    planted = {f"SIG{j:08d}" for j in range(0, n, PLANTED_EVERY)}
    recall = len(planted & set(first.sig_id)) / min(len(planted), 50)
    return {
        "align_s": align_s,
        "first_query_s": first_s,
        "median_s": medians,
        "median_cpu_s": cpu_medians,
        "planted_recall_top50": recall,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_batch(workdir: Path, n: int, seed: int, n_queries: int) -> dict[str, object]:
    """``n_queries`` random 150/150 queries, one by one (``score_table`` each), then as one batch (``score_tables``).

    Both rank each query's top 50 after NCS, with sig_info aligned once beforehand, so the
    ratio is what sharing the passes over the index saves; every score is compared.
    """
    queries = [query(seed + 1000 + k) for k in range(n_queries)]
    with RankIndex(workdir / "level5.rank.h5") as index:
        signatures = SignatureTable.align(index, sig_info(n))
        search(index, *queries[0], "wtcs", sig_info=signatures, top=50)  # compiled kernels and a warm index for both
        started, cpu_started = time.perf_counter(), time.process_time()
        singles = []
        for up, down in queries:
            scored = score_table(index, up, down, "wtcs", signatures)
            ranked_signatures(index, scored, 50)
            singles.append(scored.scores)
        single_s, single_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        started, cpu_started = time.perf_counter(), time.process_time()
        batch = []
        step = queries_per_pass(index.n_signatures)
        for first in range(0, n_queries, step):
            for scored in score_tables(index, queries[first : first + step], "wtcs", signatures):
                ranked_signatures(index, scored, 50)
                batch.append(scored.scores)
        batch_s, batch_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    equal = all(a.equals(b) for a, b in zip(singles, batch, strict=True))
    return {
        "queries": n_queries,
        "queries_per_pass": step,
        "single_total_s": single_s,
        "single_cpu_s": single_cpu,
        "batch_total_s": batch_s,
        "batch_cpu_s": batch_cpu,
        "scores_equal": equal,
        "peak_rss_mb": peak_rss_mb(),
    }


def wtcs_transcription(z: np.ndarray, up: np.ndarray, down: np.ndarray) -> float:
    """WTCS of one signature, transcribed per signature in NumPy: sort, running sums, extremes."""

    def es(hits: np.ndarray) -> float:
        order = np.argsort(-z, kind="stable")
        hit = hits[order]
        weights = np.where(hit, np.abs(z[order]), 0.0)
        running = np.cumsum(np.where(hit, weights / weights.sum(), -1.0 / (len(z) - hit.sum())))
        return float(running[np.abs(running).argmax()])

    es_up, es_down = es(up), es(down)
    return (es_up - es_down) / 2 if np.sign(es_up) != np.sign(es_down) else 0.0


def run_reference(workdir: Path, n: int, seed: int, sample: int) -> dict[str, float]:
    """Seconds per signature of the transcription over ``sample`` signatures (reading them is not timed)."""
    up, down = query(seed)
    columns = np.random.default_rng(seed + 2).choice(n, size=min(sample, n), replace=False)
    data = read_gctx(workdir / "level5.gctx", cidx=np.sort(columns), meta=False).data
    z = data.to_numpy(dtype=np.float64).T
    up_mask, down_mask = data.index.isin(up), data.index.isin(down)
    started = time.perf_counter()
    for row in z:
        wtcs_transcription(row, up_mask, down_mask)
    seconds = time.perf_counter() - started
    return {"signatures": len(z), "seconds": seconds, "seconds_per_signature": seconds / len(z)}


def in_subprocess(step: str, args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    command = [sys.executable, __file__, "--step", step, "--workdir", str(workdir), "--signatures", str(args.signatures)]
    command += ["--seed", str(args.seed), "--repeats", str(args.repeats), "--reference-sample", str(args.reference_sample)]
    command += ["--queries", str(args.queries)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-sample", type=int, default=2_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".l1k_home" / "bench" / "connectivity_query")
    parser.add_argument("--queries", type=int, default=0, help="also time this many queries one by one and as one batch")
    parser.add_argument("--step", choices=["build", "query", "reference", "batch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        steps = {
            "build": lambda: run_build(args.workdir),
            "query": lambda: run_query(args.workdir, args.signatures, args.seed, args.repeats),
            "reference": lambda: run_reference(args.workdir, args.signatures, args.seed, args.reference_sample),
            "batch": lambda: run_batch(args.workdir, args.signatures, args.seed, args.queries),
        }
        print(json.dumps(steps[args.step]()))
        return
    workdir = args.workdir / f"n{args.signatures}-seed{args.seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "level5.gctx").exists():
        started = time.perf_counter()
        generate(workdir / "level5.gctx", args.signatures, args.seed)
        print(f"generated {args.signatures} signatures in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    steps = ("build", "query", "reference", *(("batch",) if args.queries else ()))
    results = {step: in_subprocess(step, args, workdir) for step in steps}
    for step, result in results.items():
        print(f"{step}: {result}", file=sys.stderr)
    query_s = results["query"]["median_s"]["wtcs"]
    reference_total = results["reference"]["seconds_per_signature"] * args.signatures
    summary = {
        "benchmark": "connectivity_query",
        "signatures": args.signatures,
        "genes": N_GENES,
        "query": f"{QUERY_SIZE} up / {QUERY_SIZE} down, WTCS + NCS per cell line x pert type, top 50 (sig_info aligned once)",
        "index_build_s": results["build"]["seconds"],
        "index_build_peak_rss_mb": results["build"]["peak_rss_mb"],
        "index_bytes": (workdir / "level5.rank.h5").stat().st_size,
        "query_median_s": query_s,
        "query_median_s_by_method": results["query"]["median_s"],
        "query_median_cpu_s_by_method": results["query"]["median_cpu_s"],
        "load_average_1min": os.getloadavg()[0],
        "first_query_s": results["query"]["first_query_s"],
        "sig_info_align_s": results["query"]["align_s"],
        "query_peak_rss_mb": results["query"]["peak_rss_mb"],
        "planted_recall_top50": results["query"]["planted_recall_top50"],
        "reference": "per-signature NumPy WTCS transcription (argsort + cumsum), float64",
        "reference_signatures_per_s": 1 / results["reference"]["seconds_per_signature"],
        "reference_projected_s": reference_total,
        "speedup_vs_reference": reference_total / query_s,
    }
    if args.queries:
        batch = results["batch"]
        summary["batch"] = batch | {
            "baseline": f"{args.queries} single queries (score_table + top 50 each, sig_info aligned once) in the same run",
            "speedup_vs_single": batch["single_total_s"] / batch["batch_total_s"],
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
