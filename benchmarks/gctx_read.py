"""Benchmark: l1k's GCTX reader against cmapPy's ``parse`` on subset reads of a ≥100,000-column file.

Generates a level-5-like GCTX (978 genes × N signatures, written block by block with l1k's
writer: gzip, chunks of 1,000 whole signatures), then reads the same subsets with
``l1k_assets.lincs.gctx.read_gctx`` and with cmapPy's ``parse``: random column ids, a block of
consecutive column ids, random rows across all columns, and rows × columns. Each read runs in
its own process (time and peak RSS are that read's alone), and both readers must return the
same values. cmapPy is used here only, as the reference implementation of the format; it
needs two NumPy 2 aliases and a pandas 3 shim (``to_numeric(errors="ignore")`` was removed).
The last stdout line is JSON.

    python benchmarks/gctx_read.py --signatures 100000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory import peak_rss_mb  # noqa: E402
from l1k_assets.lincs.gctx import GctxAppender, read_gctx  # noqa: E402

N_GENES = 978
READERS = ("l1k", "cmappy")
CASES = {
    "cids_random_1000": {"cols": 1_000, "contiguous": False, "rows": None},
    "cids_block_10000": {"cols": 10_000, "contiguous": True, "rows": None},
    "rids_100_all_cols": {"cols": None, "contiguous": False, "rows": 100},
    "rids_100_cids_1000": {"cols": 1_000, "contiguous": False, "rows": 100},
}


def generate(path: Path, n: int, seed: int, block: int = 20_000) -> None:
    rng = np.random.default_rng(seed)
    rows = [str(10_000 + i) for i in range(N_GENES)]
    with GctxAppender(path, row_ids=rows) as out:
        for start in range(0, n, block):
            width = min(block, n - start)
            values = rng.standard_normal((N_GENES, width), dtype=np.float32)
            out.append(pd.DataFrame(values, index=rows, columns=[f"SIG{j:08d}" for j in range(start, start + width)]))


def selection(case: str, n: int, seed: int) -> tuple[list[str] | None, list[str] | None]:
    """The (row ids, column ids) a case reads, the same for both readers."""
    spec = CASES[case]
    rng = np.random.default_rng(seed + 1)
    cols = None
    if spec["cols"] is not None:
        if spec["contiguous"]:
            start = int(rng.integers(0, n - spec["cols"]))
            picked = np.arange(start, start + spec["cols"])
        else:
            picked = rng.choice(n, size=spec["cols"], replace=False)
        cols = [f"SIG{j:08d}" for j in picked]
    rows = None if spec["rows"] is None else [str(10_000 + i) for i in rng.choice(N_GENES, size=spec["rows"], replace=False)]
    return rows, cols


def reader_function(reader: str) -> Callable[[Path, list[str] | None, list[str] | None], pd.DataFrame]:
    """A function reading the genes × samples values of a subset with one reader, its imports done."""
    if reader == "l1k":
        return lambda path, rows, cols: read_gctx(path, rids=rows, cids=cols).data
    np.string_ = np.bytes_  # cmapPy predates NumPy 2
    np.bool = bool
    numeric = pd.to_numeric

    def to_numeric(values: object, errors: str = "raise", **kwargs: object) -> object:
        if errors != "ignore":
            return numeric(values, errors=errors, **kwargs)
        try:
            return numeric(values, **kwargs)
        except (ValueError, TypeError):
            return values

    pd.to_numeric = to_numeric  # cmapPy relies on errors="ignore", removed in pandas 3
    from cmapPy.pandasGEXpress.parse import parse

    return lambda path, rows, cols: parse(str(path), rid=rows, cid=cols).data_df


def checksum(frame: pd.DataFrame) -> str:
    """Digest of the values with rows and columns in id order, so readers that reorder still agree."""
    ordered = frame.sort_index(axis=0).sort_index(axis=1)
    digest = hashlib.sha256(ordered.to_numpy(dtype=np.float32).tobytes())
    digest.update("\t".join(map(str, ordered.index)).encode())
    digest.update("\t".join(map(str, ordered.columns)).encode())
    return digest.hexdigest()[:16]


def run_one(reader: str, case: str, path: Path, n: int, seed: int) -> dict[str, object]:
    read = reader_function(reader)
    rows, cols = selection(case, n, seed)
    rss_before = peak_rss_mb()  # after imports: what the read itself adds is the difference
    started = time.perf_counter()
    frame = read(path, rows, cols)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_read_mb": rss_before,
        "shape": list(frame.shape),
        "checksum": checksum(frame),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".l1k_home" / "bench" / "gctx_read")
    parser.add_argument("--reader", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = args.workdir / f"level5-n{args.signatures}-seed{args.seed}.gctx"
    if args.reader:
        print(json.dumps(run_one(args.reader, args.case, path, args.signatures, args.seed)))
        return
    if args.signatures < 100_000:
        print(f"note: {args.signatures} signatures, fewer than the 100,000 this benchmark is meant for", file=sys.stderr)
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.signatures, args.seed)
        print(f"generated {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results: dict[str, dict[str, object]] = {}
    for case in CASES:
        runs = {}
        for reader in READERS:
            command = [sys.executable, __file__, "--reader", reader, "--case", case]
            command += ["--signatures", str(args.signatures), "--seed", str(args.seed), "--workdir", str(args.workdir)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs[reader] = json.loads(done.stdout.strip().splitlines()[-1])
        if runs["l1k"]["checksum"] != runs["cmappy"]["checksum"]:
            raise SystemExit(f"{case}: the readers disagree: {runs}")
        runs["time_ratio_l1k_over_cmappy"] = runs["l1k"]["seconds"] / runs["cmappy"]["seconds"]
        runs["rss_ratio_l1k_over_cmappy"] = runs["l1k"]["peak_rss_mb"] / runs["cmappy"]["peak_rss_mb"]
        print(f"{case}: {runs}", file=sys.stderr)
        results[case] = runs
    print(json.dumps({"benchmark": "gctx_read", "signatures": args.signatures, "genes": N_GENES, "cases": results}))


if __name__ == "__main__":
    main()
