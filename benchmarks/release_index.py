"""Benchmark: the signature-search rank index at the size of a real release (GSE92742, or LINCS 2020 in landmark space).

``--layout gse92742`` (default) writes one level-5 GCTX of 473,647 signatures × 12,328 genes
(float32, LINCS's GCTX layout, uncompressed chunks of 1,000 whole signatures, the real gene ids
of GSE92742's gene_info, sig ids shaped like LINCS's). ``--layout lincs2020`` writes LINCS 2020's
1,201,944 signatures as its six per-type files (trt_cp 720,216, trt_sh 238,351, trt_xpr 142,901,
ctl 58,022, trt_oe 34,171, trt_misc 8,283) on the 978 landmarks of geneinfo_beta: the full
12,328-gene build (59 GB of source, 89 GB of index) does not fit this disk, and a landmark index
(~7 GB) is what a workstation holds; the query is then filtered to ``trt_cp`` and the baseline
projected to the trt_cp signatures. Either is seeded and written one block at a time, with every
PLANTED_EVERY-th signature reversing a 150-up/150-down query. Then, each in its own process so
each peak RSS is its own:

* build the rank index from it, the source's pages dropped from the page cache first (a real
  release is not cached), so the build reads it from disk;
* one WTCS + NCS ``search`` (top 50), sig_info aligned to the index once beforehand (timed
  apart, as a session does it once for all its queries): the first query (index pages dropped:
  cold cache, and the numba cache load), the median of warm repeats, then again with the index
  closed, its pages dropped and reopened (cold cache, compiled kernels). Pages are dropped with
  fsync + posix_fadvise(DONTNEED) on the benchmark's own files, which needs no root; ``fincore`` reports what stayed resident;
* the baseline: the per-signature NumPy WTCS transcription of connectivity_query on a sample of
  signatures, projected to the release; ``ratio`` = projected / warm median query.

The big files are deleted at the end (also on failure) unless --keep. Human lines go to
stderr; the last stdout line is JSON.

    python benchmarks/release_index.py                       # the release: ~23.4 GB + ~35 GB on disk
    python benchmarks/release_index.py --layout lincs2020    # LINCS 2020 in landmark space: ~4.7 GB + ~7.1 GB
    python benchmarks/release_index.py --signatures 20000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.connectivity_query import PLANTED_EVERY, QUERY_SIZE, sig_info, wtcs_transcription  # noqa: E402
from benchmarks.memory import peak_rss_mb  # noqa: E402
from l1k_assets.errors import L1kError  # noqa: E402
from l1k_assets.lincs.gctx import GctxAppender  # noqa: E402
from l1k_assets.lincs.gctx_set import GctxSet  # noqa: E402
from l1k_assets.lincs.metadata import landmark_gene_ids, read_gene_info  # noqa: E402
from l1k_assets.search.connectivity import SignatureFilter, SignatureTable, search  # noqa: E402
from l1k_assets.search.rank_index import RANK_DTYPE, RankIndex, build_rank_index  # noqa: E402

GENE_INFO = ROOT.parent / "shared" / "data" / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt"
GENE_INFO_BETA = ROOT.parent / "shared" / "data" / "GeneExpressionGNN" / "geneinfo_beta.txt"
RELEASE_SIGNATURES = 473_647
RELEASE_GENES = 12_328
# LINCS 2020's level-5 files and their signatures (CLUE's names: level5_beta_<part>_n<columns>x12328.gctx)
LINCS2020_PARTS = {"trt_cp": 720_216, "trt_sh": 238_351, "trt_xpr": 142_901, "ctl": 58_022, "trt_oe": 34_171, "trt_misc": 8_283}
LAYOUTS = {"gse92742": (RELEASE_SIGNATURES, RELEASE_GENES), "lincs2020": (sum(LINCS2020_PARTS.values()), 978)}
BLOCK = 1_000  # signatures generated (and stored per HDF5 chunk) at a time: 49 MB at 12,328 genes
SPARE_BYTES = 2 * 2**30  # free space left over after both files, for everyone else on the disk
TOP = 50


class DiskSpaceError(L1kError):
    """The benchmark's files would not fit on the disk of its working directory."""

    def __init__(self, path: Path, needed: int, free: int) -> None:
        self.path, self.needed, self.free = path, needed, free
        spare = SPARE_BYTES / 1e9
        super().__init__(
            f"{path}: the benchmark needs {needed / 1e9:.1f} GB free (files + {spare:.1f} GB spare), {free / 1e9:.1f} GB are"
        )


def release_genes(n: int, layout: str) -> list[str]:
    """The first ``n`` Entrez ids of the release's genes: GSE92742's gene_info (12,328), or LINCS 2020's landmarks (978)."""
    if layout == "lincs2020":
        ids, source = landmark_gene_ids(read_gene_info(GENE_INFO_BETA)), GENE_INFO_BETA
    else:
        ids, source = pd.read_csv(GENE_INFO, sep="\t", usecols=["pr_gene_id"], dtype=str).pr_gene_id.tolist(), GENE_INFO
    if not 2 <= n <= len(ids):
        raise ValueError(f"--genes must be between 2 and the {len(ids)} genes of {source.name}, not {n}")
    return ids[:n]


def parts(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(part, signatures) of each source file: one file for GSE92742, LINCS 2020's six in its proportions."""
    if args.layout == "gse92742":
        return [("all", args.signatures)]
    total = sum(LINCS2020_PARTS.values())
    exact = {p: args.signatures * n / total for p, n in LINCS2020_PARTS.items()}
    counts = {p: int(v) for p, v in exact.items()}
    for p in sorted(exact, key=lambda q: counts[q] - exact[q])[: args.signatures - sum(counts.values())]:
        counts[p] += 1  # largest remainders, so the parts add up to the total asked for
    return list(counts.items())


def query(genes: list[str], seed: int) -> tuple[list[str], list[str]]:
    """The benchmark's up and down sets: QUERY_SIZE + QUERY_SIZE distinct genes, seeded."""
    shuffled = np.random.default_rng(seed + 1).permutation(np.asarray(genes))
    return shuffled[:QUERY_SIZE].tolist(), shuffled[QUERY_SIZE : 2 * QUERY_SIZE].tolist()


def signature_info(n: int, file_parts: list[tuple[str, int]] | None = None) -> pd.DataFrame:
    """connectivity_query's annotations with sig ids shaped like LINCS's: plate_cell_time:well, 384 wells a plate.

    With per-type files, each signature's ``pert_type`` is its file's (``ctl`` files hold vehicle controls).
    """
    meta = sig_info(n)
    if file_parts and file_parts[0][0] != "all":
        meta["pert_type"] = np.repeat([p if p != "ctl" else "ctl_vehicle" for p, _ in file_parts], [k for _, k in file_parts])
    wells = [f"{'ABCDEFGHIJKLMNOP'[w // 24]}{w % 24 + 1:02d}" for w in range(384)]
    plates = np.arange(n) // 384
    meta["sig_id"] = [
        f"BNCH{plate:04d}_{cell}_{time:.0f}H:{wells[i % 384]}"
        for i, (plate, cell, time) in enumerate(zip(plates, meta.cell_id, meta.pert_time, strict=True))
    ]
    return meta


def planted(n: int) -> np.ndarray:
    return np.arange(0, n, PLANTED_EVERY)


def files(args: argparse.Namespace) -> tuple[list[Path], Path]:
    """The source GCTX files (named by their size and seed, so kept ones are reused only for the same run) and the index."""
    stem = f"level5_n{args.signatures}x{args.genes}_seed{args.seed}"
    if args.layout == "gse92742":
        return [args.workdir / f"{stem}.gctx"], args.workdir / f"{stem}.rank.h5"
    sources = [args.workdir / f"level5_beta_{part}_n{k}x{args.genes}_seed{args.seed}.gctx" for part, k in parts(args)]
    return sources, args.workdir / f"lincs2020_{stem}.rank.h5"


def generate(paths: list[Path], file_parts: list[tuple[str, int]], genes: list[str], seed: int) -> None:
    """N(0, 1) float32 z-scores, BLOCK signatures at a time, file after file; planted signatures shifted against the query."""
    rng = np.random.default_rng(seed)
    up, down = query(genes, seed)
    rows = pd.Index(genes)
    up_at, down_at = rows.get_indexer(up), rows.get_indexer(down)
    sig_ids = signature_info(sum(k for _, k in file_parts), file_parts).sig_id.to_numpy()
    offset = 0
    for path, (_, n) in zip(paths, file_parts, strict=True):
        with GctxAppender(path, row_ids=genes, chunk_cols=BLOCK, compression=None) as out:
            for start in range(offset, offset + n, BLOCK):
                width = min(BLOCK, offset + n - start)
                values = rng.standard_normal((width, len(genes)), dtype=np.float32)  # the stored signatures × genes
                shifted = np.arange(-start % PLANTED_EVERY, width, PLANTED_EVERY)
                values[np.ix_(shifted, up_at)] -= 1.5
                values[np.ix_(shifted, down_at)] += 1.5
                out.append(pd.DataFrame(values.T, index=rows, columns=sig_ids[start : start + width], copy=False))
        offset += n


def expected_bytes(n: int, n_genes: int) -> tuple[int, int]:
    """Matrix bytes of the source (float32) and of the index (int16 rank + float32 score per entry)."""
    entries = n * n_genes
    return entries * 4, entries * (RANK_DTYPE.itemsize + 4)


def require_space(workdir: Path, needed: int) -> None:
    free = shutil.disk_usage(workdir).free
    if free < needed + SPARE_BYTES:
        raise DiskSpaceError(workdir, needed + SPARE_BYTES, free)


def drop_cache(path: Path) -> float:
    """Write out and drop ``path``'s pages from the page cache; return the seconds the fsync took."""
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        seconds = time.perf_counter() - started
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return seconds


def resident_mb(path: Path) -> float:
    """How much of ``path`` is in the page cache now (util-linux fincore)."""
    done = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)], capture_output=True, text=True)
    return int(done.stdout.split()[0]) / 2**20 if done.returncode == 0 and done.stdout.strip() else float("nan")


# ---------------------------------------------------------------- steps (each in its own process)


def run_build(sources: list[Path], index: Path) -> dict[str, float]:
    started = time.perf_counter()
    build_rank_index(GctxSet.of(sources), index)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def timed_search(
    index: RankIndex, up: list[str], down: list[str], signatures: SignatureTable, filters: SignatureFilter | None
) -> tuple[float, pd.DataFrame]:
    started = time.perf_counter()
    found = search(index, up, down, "wtcs", sig_info=signatures, filters=filters, top=TOP)
    return time.perf_counter() - started, found


def query_filter(file_parts: list[tuple[str, int]]) -> SignatureFilter | None:
    """LINCS 2020's query is CLUE's compound query: trt_cp signatures only."""
    return None if file_parts[0][0] == "all" else SignatureFilter(pert_types=["trt_cp"])


def run_query(path: Path, file_parts: list[tuple[str, int]], genes: list[str], seed: int, repeats: int) -> dict[str, object]:
    """First query (cold index pages, numba cache load), warm repeats, then cold pages with loaded kernels."""
    up, down = query(genes, seed)
    n = sum(k for _, k in file_parts)
    meta = signature_info(n, file_parts)
    filters = query_filter(file_parts)
    drop_cache(path)
    resident_before = resident_mb(path)
    with RankIndex(path) as index:
        started = time.perf_counter()
        signatures = SignatureTable.align(index, meta)
        align_s = time.perf_counter() - started
        first_s, found = timed_search(index, up, down, signatures, filters)
        warm = [timed_search(index, up, down, signatures, filters)[0] for _ in range(repeats)]
    drop_cache(path)  # unmapped now, so every page of the index can go
    with RankIndex(path) as index:
        cold_s, _ = timed_search(index, up, down, signatures, filters)
    considered = np.ones(n, dtype=bool) if filters is None else filters.mask(meta)
    expected = set(meta.sig_id.to_numpy()[planted(n)][considered[planted(n)]])
    return {
        "align_s": align_s,
        "first_s": first_s,
        "warm_median_s": statistics.median(warm),
        "warm_s": warm,
        "cold_s": cold_s,
        "index_resident_mb_before_first": resident_before,
        "planted_recall_top50": len(expected & set(found.sig_id)) / min(len(expected), TOP),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_reference(
    sources: list[Path], file_parts: list[tuple[str, int]], genes: list[str], seed: int, sample: int
) -> dict[str, float]:
    """Seconds per signature of the NumPy transcription over ``sample`` considered signatures (reading them is not timed)."""
    up, down = query(genes, seed)
    n = sum(k for _, k in file_parts)
    meta = signature_info(n, file_parts)
    filters = query_filter(file_parts)
    considered = np.flatnonzero(np.ones(n, dtype=bool) if filters is None else filters.mask(meta))
    columns = np.sort(np.random.default_rng(seed + 2).choice(considered, size=min(sample, len(considered)), replace=False))
    data = GctxSet.of(sources).read(meta.sig_id.to_numpy()[columns])
    z = data.to_numpy(dtype=np.float64).T
    up_mask, down_mask = data.index.isin(up), data.index.isin(down)
    started = time.perf_counter()
    for row in z:
        wtcs_transcription(row, up_mask, down_mask)
    seconds = (time.perf_counter() - started) / len(z)
    return {"signatures": len(z), "seconds_per_signature": seconds, "considered": len(considered)}


def in_subprocess(step: str, args: argparse.Namespace) -> dict[str, object]:
    command = [sys.executable, __file__, "--step", step, "--workdir", str(args.workdir)]
    command += [
        "--signatures",
        str(args.signatures),
        "--genes",
        str(args.genes),
        "--seed",
        str(args.seed),
        "--layout",
        args.layout,
    ]
    command += ["--repeats", str(args.repeats), "--reference-sample", str(args.reference_sample)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"step {step} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{step}: {result}", file=sys.stderr)
    return result


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Generate (unless the source is there), build, query and time the baseline; the summary."""
    sources, index = files(args)
    source_bytes, index_bytes = expected_bytes(args.signatures, args.genes)
    generate_s = None
    if not all(source.exists() for source in sources):
        require_space(args.workdir, source_bytes + index_bytes)
        started = time.perf_counter()
        generate(sources, parts(args), release_genes(args.genes, args.layout), args.seed)
        generate_s = time.perf_counter() - started
        print(f"generated {args.signatures} × {args.genes} in {len(sources)} files in {generate_s:.1f} s", file=sys.stderr)
    require_space(args.workdir, index_bytes)
    source_flush_s = sum(drop_cache(source) for source in sources)
    source_resident = sum(resident_mb(source) for source in sources)
    build = in_subprocess("build", args)
    index_flush_s = drop_cache(index)  # written back before the queries, outside build_s (which is what a caller waits)
    results = {step: in_subprocess(step, args) for step in ("query", "reference")}
    query_s = results["query"]["warm_median_s"]
    reference_s = results["reference"]["seconds_per_signature"] * results["reference"]["considered"]
    considered = "trt_cp signatures only" if args.layout == "lincs2020" else "every signature"
    return {
        "benchmark": "release_index",
        "layout": args.layout,
        "signatures": args.signatures,
        "files": dict(parts(args)),
        "genes": args.genes,
        "query": f"{QUERY_SIZE} up / {QUERY_SIZE} down, WTCS + NCS per cell line x pert type, top {TOP}, {considered}",
        "query_signatures": results["reference"]["considered"],
        "generate_s": generate_s,
        "source_bytes": sum(source.stat().st_size for source in sources),
        "source_resident_mb_before_build": source_resident,
        "source_flush_s": source_flush_s,
        "build_s": build["seconds"],
        "build_peak_rss_mb": build["peak_rss_mb"],
        "index_flush_s": index_flush_s,
        "index_bytes": index.stat().st_size,
        "index_bytes_per_entry": index.stat().st_size / (args.signatures * args.genes),
        "query_s": query_s,
        "query_first_s": results["query"]["first_s"],
        "query_cold_s": results["query"]["cold_s"],
        "sig_info_align_s": results["query"]["align_s"],
        "query_warm_s": results["query"]["warm_s"],
        "index_resident_mb_before_first_query": results["query"]["index_resident_mb_before_first"],
        "query_peak_rss_mb": results["query"]["peak_rss_mb"],
        "planted_recall_top50": results["query"]["planted_recall_top50"],
        "baseline": "per-signature NumPy WTCS transcription (argsort + cumsum, float64) on a sample, projected",
        "baseline_sample": results["reference"]["signatures"],
        "baseline_projected_s": reference_s,
        "ratio": reference_s / query_s,
        "load_average_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="gse92742", help="one file (GSE92742) or LINCS 2020's six")
    parser.add_argument("--signatures", type=int, help="default: the release's (473,647 or 1,201,944)")
    parser.add_argument("--genes", type=int, help="default: 12,328 (GSE92742) or LINCS 2020's 978 landmarks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-sample", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=ROOT.parent / "bench_release")
    parser.add_argument("--keep", action="store_true", help="keep the GCTX and the index (a later run reuses the GCTX)")
    parser.add_argument("--step", choices=["build", "query", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    default_signatures, default_genes = LAYOUTS[args.layout]
    args.signatures = args.signatures or default_signatures
    args.genes = args.genes or default_genes
    if args.step:
        genes, (sources, index), file_parts = release_genes(args.genes, args.layout), files(args), parts(args)
        steps = {
            "build": lambda: run_build(sources, index),
            "query": lambda: run_query(index, file_parts, genes, args.seed, args.repeats),
            "reference": lambda: run_reference(sources, file_parts, genes, args.seed, args.reference_sample),
        }
        print(json.dumps(steps[args.step]()))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        summary = measure(args)
    finally:
        if not args.keep:
            sources, index = files(args)
            for path in [*sources, index]:
                path.unlink(missing_ok=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
