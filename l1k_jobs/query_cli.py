"""``l1k query``: a CLUE-style connectivity query from the shell, printed, saved or as JSON.

It prints the gene-space report (which input genes were used, which not and why) on stderr,
then the top signatures with NCS and τ, the top perturbagens and mechanisms by CLUE's
maximum-quantile summary. ``--output`` keeps the signature table (.tsv, .parquet or .gct);
``--json`` prints one JSON document instead of tables. The output path is checked before the
query runs, so a typo in a folder costs nothing and leaves no partial file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from l1k_jobs.environment import prepare_environment
from l1k_jobs.terminal import error_console, print_error

SIGNATURE_COLUMNS = ("rank", "sig_id", "pert_iname", "pert_id", "pert_type", "cell_id", "pert_dose", "pert_time")
SCORE_COLUMNS = ("wtcs", "rges", "xsum", "xcos", "spearman", "pearson", "cosine", "es", "ncs", "tau", "p_value")
UP_DOWN_METHODS = ("wtcs", "rges", "xsum", "xcos")
SIGNATURE_METHODS = ("spearman", "pearson", "cosine", "xsum", "xcos")
SHOWN_PERTURBAGENS = 10
SHOWN_MECHANISMS = 5
SHOWN_SETS = 10


def add_query_command(sub: argparse._SubParsersAction) -> None:
    """The ``query`` subcommand's arguments."""
    query = sub.add_parser("query", help="connectivity query over a release's signatures (WTCS/NCS/τ, RGES, XSum, XCos)")
    query.add_argument("--up", type=Path, help="file of up-regulated genes (symbols, gene ids or Ensembl ids)")
    query.add_argument("--down", type=Path, help="file of down-regulated genes")
    query.add_argument("--cancer-type", help="use this cancer type's consensus reversal query instead of files")
    query.add_argument("--release", help="LINCS release (default: the last one indexed)")
    query.add_argument("--gmt", type=Path, help="many queries in one pass: a GMT of NAME_UP / NAME_DN sets (CLUE's format)")
    query.add_argument("--signature", type=Path, help="a whole signature: a gene<TAB>value table (DE results), by correlation")
    query.add_argument("--genes", type=Path, help="one gene set without direction (its one-sided enrichment score)")
    methods = ["wtcs", "rges", "xsum", "xcos", "spearman", "pearson", "cosine"]
    query.add_argument(
        "--method",
        choices=methods,
        help="up/down: wtcs (default), rges, xsum, xcos; --signature: spearman (default), pearson, cosine, xsum, xcos",
    )
    query.add_argument("--top", type=int, default=50)
    query.add_argument("--direction", default="reverse", choices=["reverse", "mimic"], help="reversers or mimics")
    query.add_argument("--space", default="bing", choices=["bing", "landmark"], help="genes a query may use (CLUE: bing)")
    query.add_argument("--min-genes", type=int, default=10, help="usable genes needed per side (CLUE: 10)")
    query.add_argument("--no-tau", action="store_true", help="no τ (a release without a reference set)")
    query.add_argument("--cell", action="append", help="only these cell lines (repeatable)")
    query.add_argument("--pert-type", action="append", help="only these perturbagen types, e.g. trt_cp (repeatable)")
    query.add_argument("--dose", type=float, nargs=2, metavar=("MIN_UM", "MAX_UM"), help="dose range in µM")
    query.add_argument("--time", type=float, action="append", help="only this time point in hours (repeatable)")
    query.add_argument("--permutations", type=int, default=0, help="permutation p-values for the listed signatures")
    kinds = ["moa", "target", "pert_type"]
    query.add_argument("--enrich", action="append", choices=kinds, help="drug-set enrichment of the hits (repeatable)")
    query.add_argument("--enrich-gmt", type=Path, help="drug-set enrichment against a GMT of perturbagen names")
    query.add_argument("--enrich-top", type=int, default=20, help="perturbagens counted as hits by the hypergeometric test")
    query.add_argument("--enrich-permutations", type=int, default=1000, help="permutations of the running-sum test")
    query.add_argument("--output", type=Path, help="save the signature table: results.tsv, .parquet or .gct (GCT 1.3)")
    query.add_argument("--json", action="store_true", help="print the query, gene report and results as JSON")
    query.set_defaults(func=cmd_query)


def _table(frame: pd.DataFrame, title: str, text: list[str], numbers: list[str]) -> Table:
    table = Table(title=title)
    for column in text + numbers:
        table.add_column(column, justify="right" if column in numbers or column == "rank" else "left")
    for row in frame[text + numbers].itertuples(index=False):
        values = row._asdict()
        table.add_row(*[str(values[c]) for c in text], *[f"{values[c]:.4g}" for c in numbers])
    return table


def cmd_query(args: argparse.Namespace) -> int:
    """Run one query on a built release and print, save or emit its results."""
    home = prepare_environment(args.home, args.mode, args.scale)
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    from l1k_assets.errors import L1kError
    from l1k_assets.search.connectivity import METHODS, SignatureFilter
    from l1k_assets.search.genespace import format_report
    from l1k_assets.search.query_gmt import read_query_gmt
    from l1k_assets.search.results import OutputPathError, check_output_path, results_json, write_results
    from l1k_assets.search.session import QueryOptions, read_gene_list
    from l1k_assets.search.shapes import read_signature_table
    from l1k_jobs.signature_search import Query, SignatureSearch

    console, errors = Console(), error_console()
    shapes = (args.cancer_type, args.up or args.down, args.gmt, args.signature, args.genes)
    if sum(bool(shape) for shape in shapes) != 1:
        print_error("give one of --up FILE and --down FILE, --cancer-type NAME, --gmt FILE, --signature FILE or --genes FILE")
        return 2
    problem = _shape_problem(args)
    if problem:
        print_error(problem)
        return 2
    dose = tuple(args.dose) if args.dose else None
    filters = SignatureFilter(args.cell or None, args.pert_type or None, dose, args.time or None)
    try:
        if args.output:
            check_output_path(args.output)
            if args.gmt and Path(args.output).suffix.lower() == ".gct":
                raise OutputPathError(args.output, "a batch is saved as .tsv or .parquet (one row per query and signature)")
        options = QueryOptions(
            method=args.method if args.method in METHODS else "wtcs",
            top=args.top,
            direction=args.direction,
            filters=filters if any((args.cell, args.pert_type, dose, args.time)) else None,
            permutations=args.permutations,
            space=args.space,
            min_genes=args.min_genes,
        )
        search = SignatureSearch(str(home))
        if args.gmt:
            return _batch(args, read_query_gmt(args.gmt), options, search, console)
        query = Query(
            up=read_gene_list(args.up) if args.up else [],
            down=read_gene_list(args.down) if args.down else [],
            cancer_type=args.cancer_type,
            options=options,
            tau=not args.no_tau,
        )
        signature = read_signature_table(args.signature) if args.signature else None
        unsigned = read_gene_list(args.genes) if args.genes else None
        started = time.monotonic()
        with Progress("{task.description}", BarColumn(), "{task.percentage:>3.0f}%", TimeElapsedColumn(), console=errors) as bar:
            task = bar.add_task("scoring signatures", total=None, visible=False)

            def progress(done: int, total: int) -> None:
                # shown only for queries that take over a second
                bar.update(task, completed=done, total=total, visible=time.monotonic() - started > 1.0)

            if signature is not None:
                result = search.run_signature(signature, args.method or "spearman", options, args.release, progress)
            elif unsigned is not None:
                result = search.run_set(unsigned, options, args.release, progress)
            else:
                result = search.run(query, args.release, progress)
        enrichment = _enrichment(args, {"query": result}, search)
        if args.output:
            write_results(result.table, args.output)
            _save_enrichment(enrichment, args.output)
    except (L1kError, FileNotFoundError, OSError) as exc:
        print_error(exc)
        report = getattr(exc, "report", None)
        if report is not None:
            errors.print(format_report(report), highlight=False, markup=False)
        return 2
    if args.json:
        tables = {"perturbagens": result.perturbagens, "mechanisms": result.mechanisms}
        print(results_json(result.description, result.genes, result.table, **tables))
        return 0
    errors.print(format_report(result.genes), highlight=False, markup=False)
    release = result.description["release"]
    sides = f"{len(result.up)} up / {len(result.down)} down" if result.down else f"{len(result.up)} genes"
    title = f"{str(result.description['method']).upper()} · release {release} · {sides}"
    text = [c for c in SIGNATURE_COLUMNS if c in result.table]
    console.print(_table(result.table, title, text, [c for c in SCORE_COLUMNS if c in result.table]))
    summary = result.perturbagens.head(SHOWN_PERTURBAGENS)
    text = [c for c in ("pert_iname", "pert_id", "moa", "n_cell_lines", "n_signatures") if c in summary]
    numbers = [c for c in SCORE_COLUMNS if c in summary]
    console.print(
        _table(
            summary.astype({"n_cell_lines": str, "n_signatures": str}),
            "Perturbagens (maximum quantile across cell lines)",
            text,
            numbers,
        )
    )
    if len(result.mechanisms):
        mechanisms = result.mechanisms.head(SHOWN_MECHANISMS).astype({"n_perturbagens": str})
        key = str(result.description["ranked_by"])
        console.print(_table(mechanisms, "Mechanisms (MoA)", ["moa", "n_perturbagens", "members"], [key]))
    _print_enrichment(enrichment, console)
    if args.output:
        console.print(f"saved {len(result.table)} signatures to {args.output}")
    return 0


def _batch(args: argparse.Namespace, queries: dict, options: object, search: object, console: Console) -> int:
    """Score a query GMT in shared passes; print one line per query, save the combined table, or emit JSON."""
    from l1k_assets.search.results import results_json, write_results
    from l1k_assets.search.session import batch_summary, batch_table

    results = search.run_batch(queries, options, not args.no_tau, args.release)  # type: ignore[attr-defined]
    enrichment = _enrichment(args, results, search)
    if args.output:
        write_results(batch_table(results), args.output)
        _save_enrichment(enrichment, args.output)
    if args.json:
        documents = {
            name: json.loads(results_json(r.description, r.genes, r.table, perturbagens=r.perturbagens))
            for name, r in results.items()
        }
        print(json.dumps(documents))
        return 0
    per_query = {} if enrichment is None else {name: rows for name, rows in enrichment.groupby("query", sort=False)}
    best = batch_summary(results, per_query)
    key = str(next(iter(results.values())).description["ranked_by"])
    text = [c for c in best.columns if c != key]
    title = f"{str(next(iter(results.values())).description['method']).upper()} · {len(results)} queries in one pass"
    console.print(_table(best.astype({"n_up": str, "n_down": str}), title, text, [key]))
    _print_enrichment(enrichment, console)
    if args.output:
        console.print(f"saved {sum(len(r.table) for r in results.values())} rows ({len(results)} queries) to {args.output}")
    return 0


def _enrichment(args: argparse.Namespace, results: dict, search: object) -> pd.DataFrame | None:
    """Drug-set enrichment of each query's ranked perturbagens (``--enrich``, ``--enrich-gmt``), a ``query`` column first."""
    if not (args.enrich or args.enrich_gmt):
        return None
    from l1k_assets.genesets.gmt import read_gmt
    from l1k_assets.search.drug_sets import drug_set_enrichment

    gmt = read_gmt(args.enrich_gmt) if args.enrich_gmt else None
    annotations = search.mechanisms()  # type: ignore[attr-defined]
    tables = [
        drug_set_enrichment(
            result.perturbagens,
            str(result.description["ranked_by"]),
            args.direction,
            args.enrich or (),
            annotations,
            gmt,
            args.enrich_top,
            args.enrich_permutations,
        ).assign(query=name)
        for name, result in results.items()
    ]
    table = pd.concat(tables, ignore_index=True)
    return table[["query", *[c for c in table.columns if c != "query"]]]


def enrichment_paths(output: Path) -> tuple[Path, Path]:
    """Where ``--output hits.tsv`` puts the enrichment: ``hits.enrichment.tsv`` and its plot ``hits.enrichment.png``."""
    return output.with_name(f"{output.stem}.enrichment.tsv"), output.with_name(f"{output.stem}.enrichment.png")


def _save_enrichment(table: pd.DataFrame | None, output: Path) -> None:
    if table is None:
        return
    from l1k_assets.fileio import atomic_write_bytes, atomic_write_text
    from l1k_assets.search.drug_sets import enrichment_plot

    tsv, png = enrichment_paths(Path(output))
    atomic_write_text(tsv, table.to_csv(sep="\t", index=False))
    atomic_write_bytes(png, enrichment_plot(table, "Drug-set enrichment of the hits"))


def _print_enrichment(table: pd.DataFrame | None, console: Console) -> None:
    if table is None:
        return
    best = table.nsmallest(SHOWN_SETS, "fdr").astype({"size": str})
    title = "Drug sets (BH FDR within each kind and test)"
    console.print(_table(best, title, ["query", "kind", "test", "set", "size"], ["p_value", "fdr"]))


def _shape_problem(args: argparse.Namespace) -> str | None:
    """What in the arguments does not fit the query's shape (checked before anything is read), or None."""
    if args.signature and args.method and args.method not in SIGNATURE_METHODS:
        return f"--method {args.method} is for up/down queries; a --signature query takes one of {', '.join(SIGNATURE_METHODS)}"
    if args.genes and args.method:
        return "an unsigned --genes query scores its one-sided enrichment score; it takes no --method"
    if not (args.signature or args.genes) and args.method and args.method not in UP_DOWN_METHODS:
        return f"--method {args.method} is for --signature queries; up/down queries take one of {', '.join(UP_DOWN_METHODS)}"
    if (args.gmt or args.signature or args.genes) and args.permutations:
        return "--permutations is for one up/down query; this shape reports scores without p-values"
    return None
