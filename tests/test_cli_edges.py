"""The command line at its edges: every expected failure is one line on stderr and exit code 2, never a traceback.

Also: a selection that names nothing, gene files that are not gene lists, temporary files of
killed runs, and ``l1k ui`` stopped with SIGTERM taking its whole process tree with it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PROJECT_ROOT, MaterializedHome

CLI = [sys.executable, "-m", "l1k_jobs.cli"]


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("L1K_", "DAGSTER_"))}
    return env | {"L1K_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_selection_that_names_no_asset_exits_2_naming_it(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "home")
    line = _one_line(_run(["--scale", "tiny", "materialize", "--select", "key:no_such_asset"], env))
    assert "'key:no_such_asset' matches no asset" in line
    assert "not a valid asset selection" in _one_line(_run(["--scale", "tiny", "materialize", "--select", "key:((("], env))
    assert "not a LINCS release" in _one_line(_run(["--scale", "tiny", "materialize", "--release", "GSE1x"], env))


def test_an_unusable_home_or_database_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    env = _clean_env(blocker / "home")  # a home below a file cannot be created, even by root
    assert "a_file/home" in _one_line(_run(["--scale", "tiny", "lineage", "out_compound_scores"], env))
    home = tmp_path / "home"
    (home / "dagster" / "history" / "runs.db").mkdir(parents=True)  # the run database's file is a folder: unusable
    line = _one_line(_run(["lineage", "out_compound_scores"], _clean_env(home)))
    assert f"the Dagster instance in {home / 'dagster'} cannot be used" in line
    debug = _run(["--debug", "lineage", "out_compound_scores"], _clean_env(home))
    assert debug.returncode != 0 and "Traceback" in debug.stderr  # --debug keeps it


def test_gene_files_that_are_not_gene_lists_fail_fast(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    good = tmp_path / "down.txt"
    good.write_text("G00001\nG00002\n")
    binary = tmp_path / "up.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    base = ["--home", str(tiny_home.home), "query", "--down", str(good), "--up"]
    assert "UTF-8 text" in _one_line(_run([*base, str(binary)], tiny_home.env()))
    started = time.monotonic()
    assert "at most 4194304 bytes" in _one_line(_run([*base, "/dev/zero"], tiny_home.env(), timeout=60))
    huge = tmp_path / "huge.txt"
    with open(huge, "w") as fh:
        fh.write("\n".join(f"GENE{i}" for i in range(3_000_000)))  # ~30 MB, millions of names
    assert "at most 4194304 bytes" in _one_line(_run([*base, str(huge)], tiny_home.env(), timeout=60))
    many = tmp_path / "many.txt"
    many.write_text("\n".join(f"G{i}" for i in range(25_000)))
    assert "25000 names; a query side takes at most 20000" in _one_line(_run([*base, str(many)], tiny_home.env()))
    assert time.monotonic() - started < 60


def test_the_gene_report_on_a_terminal_is_counts_and_the_first_names(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    from l1k_jobs.signature_search import SignatureSearch

    up, down = SignatureSearch(str(tiny_home.home)).consensus("LUAD")
    (tmp_path / "up.txt").write_text("\n".join(up + [f"NOT_A_GENE_{i}" for i in range(500)]))
    (tmp_path / "down.txt").write_text("\n".join(down))
    args = ["--home", str(tiny_home.home), "query", "--up", str(tmp_path / "up.txt"), "--down", str(tmp_path / "down.txt")]
    done = _run([*args, "--release", "GSE92742"], tiny_home.env())
    assert done.returncode == 0, done.stderr
    assert "up:   50 valid, 0 valid_not_used, 500 invalid" in done.stderr
    assert "... and 480 more (--json lists every name)" in done.stderr
    assert len(done.stderr.splitlines()) < 40


def test_temporary_files_of_killed_runs_are_removed_at_the_next_start_but_live_ones_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tables = home / "tables" / "core_x"
    tables.mkdir(parents=True)
    orphan = tables / ".__all__.parquet.k1ll3d.tmp"
    orphan.write_bytes(b"half a table")
    orphan_dir = home / "checkpoints" / "model_x" / ".__all__.abcd1234.tmp"
    orphan_dir.mkdir(parents=True)
    live = tables / ".GSE1.parquet.w0rk1ng.tmp"
    live.write_bytes(b"being written")
    with open(live, "r+b") as held:
        fcntl.lockf(held, fcntl.LOCK_EX)  # a running process writing it, as atomic_path holds it
        done = _run(["--scale", "tiny", "materialize", "--select", "key:raw_gene_sets"], _clean_env(home))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "removed 2 temporary files left by interrupted runs" in done.stdout
    assert not orphan.exists() and not orphan_dir.exists() and live.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ui_stopped_with_sigterm_takes_its_whole_tree_and_frees_the_port(tmp_path: Path) -> None:
    port = _free_port()
    env = _clean_env(tmp_path / "home")
    process = subprocess.Popen(
        [*CLI, "--scale", "tiny", "ui", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not _listening(port) and time.monotonic() < deadline:
            assert process.poll() is None, "l1k ui exited early"
            time.sleep(0.5)
        assert _listening(port), "the UI never listened"
        tree = _descendants(process.pid)
        assert len(tree) >= 3  # dagster dev, its webserver, daemon and code server
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 128 + signal.SIGTERM
        assert not _listening(port)
        assert [pid for pid in tree if _alive(pid)] == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
