"""The ``l1k`` command: materialize everything, query signatures, trace lineage, open the UI.

``l1k materialize`` runs every asset on the configured sources (the embedded default unless
told otherwise) into the l1k home, recording runs in ``$DAGSTER_HOME`` so that ``l1k ui``
shows them with their metadata.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from l1k_jobs.environment import prepare_environment
from l1k_jobs.query_cli import add_query_command
from l1k_jobs.terminal import print_error

if TYPE_CHECKING:
    from l1k_jobs.monitor import StepTiming


def cmd_materialize(args: argparse.Namespace) -> int:
    """Materialize every asset, printing live progress, then a table of stage times and where the results are."""
    started = time.monotonic()
    home = prepare_environment(args.home, args.mode, args.scale)
    if args.profile:
        os.environ["L1K_PROFILE"] = args.profile
    if args.budget_scale is not None:
        os.environ["L1K_BUDGET_SCALE"] = str(args.budget_scale)
    if args.executor:
        os.environ["L1K_EXECUTOR"] = args.executor
    if args.dask_address:
        os.environ["L1K_DASK_ADDRESS"] = args.dask_address
    from l1k_assets.errors import L1kError
    from l1k_jobs.concurrency import check_max_concurrent
    from l1k_jobs.resources_config import run_profile

    console = Console(width=None if sys.stdout.isatty() else 150)
    try:
        profile = run_profile(dict(os.environ))  # before any asset runs (and before the definitions load)
        max_concurrent = check_max_concurrent(args.max_concurrent)
    except L1kError as exc:
        print_error(exc)
        return 2
    import dagster as dg  # after the environment is set, so definitions read it

    from l1k_assets.errors import DataError
    from l1k_assets.fileio import remove_orphaned_temp_files
    from l1k_jobs.definitions import ALL_ASSETS, defs
    from l1k_jobs.engines import dask_target
    from l1k_jobs.monitor import SETUP_STEP, StepTiming, peak_rss_mb
    from l1k_jobs.releases import register_known_releases
    from l1k_jobs.runner import materialize_all, read_asset_config

    removed = remove_orphaned_temp_files(home, skip=(Path(os.environ["DAGSTER_HOME"]).name,))
    if removed:
        console.print(f"removed {len(removed)} temporary files left by interrupted runs, e.g. {removed[0]}")
    asset_config = read_asset_config(Path(args.config), ALL_ASSETS) if args.config else None
    instance = dg.DagsterInstance.get()
    resources = dict(defs.resources)
    console.print("preparing sources (the embedded mirror is generated on first use) ...")
    try:
        added = register_known_releases(instance, resources["data_source"], args.release)
    except DataError as exc:
        print_error(exc)
        return 2
    if added:
        console.print(f"registered LINCS release partitions: {', '.join(added)}")
    console.print(f"run profile [bold]{profile.name}[/bold] (time budgets × {profile.budget_scale:g}), {max_concurrent} at once")
    resources["mlflow"].prepare()  # the tracking store and experiment exist before runs race to create them
    target = dask_target(instance, os.environ) if os.environ.get("L1K_EXECUTOR") == "dask" else None
    timings: list[StepTiming] = [StepTiming(SETUP_STEP, None, time.monotonic() - started, peak_rss_mb())]
    materialize_all(
        ALL_ASSETS,
        resources,
        instance,
        on_run=lambda outcome: timings.extend(outcome.steps),
        log_level=args.log_level,
        selection=args.select,
        emit=lambda line: console.print(line, highlight=False, markup=False),
        releases=args.release,
        asset_config=asset_config,
        max_concurrent=max_concurrent,
        target=target,
    )
    total = time.monotonic() - started
    console.print(stage_table(timings, total))
    if args.report_json:
        write_report(Path(args.report_json), timings, total, profile.describe())
    console.print(f"\nResults: Parquet tables under {home / 'tables'}, raw files under {home / 'cache'} and {home / 'releases'}.")
    console.print(f"Dagster runs are recorded in {os.environ['DAGSTER_HOME']}.")
    console.print("Open the UI with:  [bold].venv/bin/l1k ui[/bold]  (then browse http://127.0.0.1:3000)")
    return 0


def stage_table(timings: list[StepTiming], total: float) -> Table:
    """Seconds per asset (summed over its partitions, slowest first) with the partitions' count and peak memory."""
    per_asset: dict[str, list[StepTiming]] = {}
    for t in timings:
        per_asset.setdefault(t.step, []).append(t)
    table = Table(title=f"l1k materialization: {total:.0f} s in all")
    for column in ("asset", "partitions", "seconds", "share", "slowest partition", "peak RSS MB"):
        table.add_column(column, justify="left" if column in ("asset", "slowest partition") else "right")
    rows = sorted(per_asset.items(), key=lambda item: -sum(t.seconds for t in item[1]))
    for step, parts in rows:
        seconds = sum(t.seconds for t in parts)
        slowest = max(parts, key=lambda t: t.seconds)
        peaks = [t.peak_rss_mb for t in parts if t.peak_rss_mb is not None]
        table.add_row(
            step,
            str(len(parts)),
            f"{seconds:.1f}",
            f"{100 * seconds / total:.0f}%" if total else "-",
            f"{slowest.partition} ({slowest.seconds:.1f} s)" if slowest.partition else "-",
            f"{max(peaks):.0f}" if peaks else "-",
        )
    return table


def write_report(path: Path, timings: list[StepTiming], total: float, profile: dict[str, Any]) -> None:
    """The stage timings as JSON (what ``benchmarks/main_job.py`` reads), written atomically."""
    from l1k_assets.fileio import atomic_write_bytes

    body = {"total_seconds": total, "profile": profile, "steps": [t.__dict__ for t in timings]}
    atomic_write_bytes(path, json.dumps(body, indent=1).encode())


def cmd_lineage(args: argparse.Namespace) -> int:
    """Print the chain from an asset (partition) back to the raw files, as a tree or JSON."""
    prepare_environment(args.home, args.mode, args.scale)
    import dagster as dg

    from l1k_jobs.definitions import defs
    from l1k_jobs.lineage import LineageError, dumps, to_markdown, trace

    with dg.DagsterInstance.get() as instance:
        try:
            root = trace(defs.resolve_asset_graph(), instance, args.asset, args.partition)
        except LineageError as exc:
            print_error(exc)
            return 2
    print(dumps(root) if args.json else to_markdown(root), end="")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """Print every paper setting beside its demo default, with where the paper states it."""
    from l1k_jobs.asset_modules import DOMAIN_ASSETS
    from l1k_jobs.profile_table import profile_markdown, profile_table

    table = profile_table(DOMAIN_ASSETS)
    if args.asset:
        unknown = sorted(set(args.asset) - set(table.asset))
        if unknown:
            print_error(f"no profiled settings for {', '.join(unknown)}; assets with some: {', '.join(table.asset.unique())}")
            return 2
        table = table[table.asset.isin(args.asset)]
    print(table.to_json(orient="records", indent=1) if args.json else profile_markdown(table), end="")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` on 127.0.0.1 with the same home and DAGSTER_HOME as ``materialize``.

    Ctrl-C or SIGTERM stops the webserver, the daemon and the code server with it (one process
    group); the command returns once they are all gone, so the port is free again.
    """
    from l1k_jobs.processes import supervise

    prepare_environment(args.home, args.mode, args.scale)
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)]
    return supervise(command)


def expected_failure(exc: BaseException) -> str | None:
    """One line for a failure a user can cause and fix (bad input, an unusable home or database), else None.

    A failed asset run counts when what failed inside it is one of these: the line names the
    step and the cause, which the run's log in the UI has in full.
    """
    from dagster._core.errors import DagsterExecutionStepExecutionError, DagsterInvalidConfigError
    from sqlalchemy.exc import SQLAlchemyError

    from l1k_assets.errors import L1kError
    from l1k_jobs.engines import StepFailedError

    if isinstance(exc, DagsterExecutionStepExecutionError) and exc.user_exception is not None:
        inner = expected_failure(exc.user_exception)
        return None if inner is None else f"step {exc.step_key} failed: {inner}"
    if isinstance(exc, StepFailedError):
        inner = expected_failure(exc.cause)
        return None if inner is None else f"step {exc.step or exc.run} failed: {inner}"
    if isinstance(exc, L1kError):
        return str(exc)
    if isinstance(exc, DagsterInvalidConfigError):
        return " ".join(str(exc).split())[:600]
    if isinstance(exc, UnicodeDecodeError):
        return f"input is not UTF-8 text: {exc}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc} (is the l1k home writable, with space left? set --home or L1K_HOME)"
    if isinstance(exc, SQLAlchemyError):
        home = os.environ.get("DAGSTER_HOME", "$DAGSTER_HOME")
        return f"the Dagster instance in {home} cannot be used: {getattr(exc, 'orig', None) or exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``l1k`` console script."""
    parser = argparse.ArgumentParser(prog="l1k", description=__doc__)
    parser.add_argument("--home", help="l1k home directory (default $L1K_HOME or ./.l1k_home)")
    parser.add_argument("--mode", choices=["embedded", "remote"], help="data sources (default: embedded)")
    parser.add_argument("--scale", choices=["tiny", "default", "large"], help="embedded universe size (default: default)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an expected failure too")
    sub = parser.add_subparsers(dest="command", required=True)
    mat = sub.add_parser("materialize", help="materialize every asset")
    mat.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="console log level")
    mat.add_argument("--profile", help="run profile: demo (CPU-sized, default) or paper (the seeds' settings; use a GPU)")
    mat.add_argument("--budget-scale", type=float, help="multiply every demo time budget (default $L1K_BUDGET_SCALE or 1)")
    mat.add_argument("--report-json", help="also write the stage timings to this JSON file")
    mat.add_argument("--config", help="YAML run config of assets' settings, as in the launchpad (ops: {asset: {config: ...}})")
    mat.add_argument("--select", help="only these assets, in Dagster's selection syntax (e.g. '+key:out_compound_scores')")
    mat.add_argument(
        "--release", action="append", help="only this LINCS release's partitions (GSE92742, LINCS2020, ...; repeatable)"
    )
    mat.add_argument(
        "--max-concurrent",
        type=int,
        help="runs at once (default: one per core, as many as available memory holds at 3 GiB each)",
    )
    mat.add_argument(
        "--executor",
        choices=["multiprocess", "in_process", "dask"],
        help="where steps run: this machine (default), or the Dask cluster at --dask-address (sets L1K_EXECUTOR)",
    )
    mat.add_argument("--dask-address", help="Dask scheduler, e.g. tcp://127.0.0.1:8786 (sets L1K_DASK_ADDRESS)")
    mat.set_defaults(func=cmd_materialize)
    lineage = sub.add_parser("lineage", help="print what an asset was computed from, down to the raw files")
    lineage.add_argument("asset")
    lineage.add_argument("--partition", help="partition key (release, cohort)")
    lineage.add_argument("--json", action="store_true", help="JSON instead of a Markdown tree")
    lineage.set_defaults(func=cmd_lineage)
    add_query_command(sub)
    profile = sub.add_parser("profile", help="print the paper profile: each setting's demo and paper value, and its source")
    profile.add_argument("--asset", action="append", help="only this asset's settings (repeatable)")
    profile.add_argument("--json", action="store_true", help="JSON records instead of a Markdown table")
    profile.set_defaults(func=cmd_profile)
    ui = sub.add_parser("ui", help="open the Dagster UI on the recorded runs")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        message = None if args.debug else expected_failure(exc)
        if message is None:
            sys.stderr.write(getattr(exc, "trace", ""))  # a worker's traceback: the one below is the runner's
            raise
        print_error(message)
        return 2


if __name__ == "__main__":
    sys.exit(main())
