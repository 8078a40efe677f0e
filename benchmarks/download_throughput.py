"""Benchmark: the downloader's throughput on a 1 GB file over loopback, against the downloader before its hardening.

The hardened downloader reads the body with ``read1`` (so it can check the transfer rate and
the deadline between reads), keeps a version record beside the ``.part`` and checks every
frame; none of that may cost throughput. The named baseline is the downloader as it was at
commit ``af77b16`` (loaded from git into a module of its own), measured in the same run on
the same file and server; a plain ``requests`` stream to disk is shown as the floor. Each
run downloads into an empty cache (so it is a download plus the sha256 pass, not a cache
hit), alternating the two downloaders, and the medians are compared. Files live in
``/dev/shm`` when there is one (``--workdir`` to change it): on a shared disk, write-back of
the previous gigabyte moved single runs by ±50 %, far more than the code under test does.

    .venv/bin/python benchmarks/download_throughput.py              # 1 GiB, 7 rounds
    .venv/bin/python benchmarks/download_throughput.py --mib 256    # quicker

The last line is JSON; exit status 1 if the hardened downloader is more than 10 % slower.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from l1k_assets.sources.download import Downloader  # noqa: E402

BASELINE_COMMIT = "af77b16"
TOLERANCE = 0.10


def baseline_module(workdir: Path) -> ModuleType:
    """The downloader module as it was at BASELINE_COMMIT, imported under another name."""
    source = subprocess.run(
        ["git", "show", f"{BASELINE_COMMIT}:l1k_assets/sources/download.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = workdir / "download_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("download_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def serve(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Python's own file server on a free loopback port, in its own process (not competing for this one's GIL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()  # "Serving HTTP on 127.0.0.1 port NNNN (...)"
    port = int(line.split(" port ")[1].split()[0])
    return process, f"http://127.0.0.1:{port}"


def timed(fetch: object, cache: Path) -> float:
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    fetch(cache)  # type: ignore[operator]
    return time.perf_counter() - started


def plain_stream(url: str, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with requests.get(url, stream=True, timeout=60) as response, open(dest / "file", "wb") as out:
        for block in response.iter_content(1 << 18):
            out.write(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=7)
    shm = Path("/dev/shm")
    parser.add_argument("--workdir", type=Path, default=shm if shm.is_dir() else ROOT.parent, help="where the file and caches go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        (work / "www").mkdir()
        with open(work / "www" / "big.bin", "wb") as out:
            block = bytes(range(256)) * 4096  # 1 MiB
            for _ in range(args.mib):
                out.write(block)
        old = baseline_module(work)
        server, base = serve(work / "www")
        try:
            url = f"{base}/big.bin"
            runs: dict[str, list[float]] = {"hardened": [], "baseline": [], "plain_stream": []}
            for _ in range(args.rounds):
                runs["hardened"].append(timed(lambda c: Downloader(c).fetch(url), work / "cache_new"))
                runs["baseline"].append(timed(lambda c: old.Downloader(c).fetch(url), work / "cache_old"))
                runs["plain_stream"].append(timed(lambda c: plain_stream(url, c), work / "cache_plain"))
        finally:
            server.terminate()
            server.wait()
    medians = {name: statistics.median(seconds) for name, seconds in runs.items()}
    mib_s = {name: args.mib / seconds for name, seconds in medians.items()}
    ratio = medians["hardened"] / medians["baseline"]
    for name in runs:
        print(
            f"{name:>13}: median {medians[name]:.2f} s, {mib_s[name]:.0f} MiB/s  {[round(s, 2) for s in runs[name]]}",
            file=sys.stderr,
        )
    summary = {
        "benchmark": "download_throughput",
        "mib": args.mib,
        "rounds": args.rounds,
        "baseline": f"the downloader at commit {BASELINE_COMMIT}, same file and server, same run",
        "seconds_median": medians,
        "mib_per_s": mib_s,
        "ratio_hardened_to_baseline": ratio,
        "within_tolerance": ratio <= 1 + TOLERANCE,
    }
    print(json.dumps(summary))
    sys.exit(0 if summary["within_tolerance"] else 1)


if __name__ == "__main__":
    main()
