"""LINCS 2020 as a release: CLUE's bucket over HTTP, the MD5 table, per-type files read as one matrix, τ on exemplars.

The remote tests serve the embedded build from a local S3-like server at
``<server>/macchiato.clue.io/builds/LINCS2020/`` (path-style bucket URL, ListObjectsV2
listing with ETags, a few keys per page), so discovery, verification, indexing and querying
run the code a user runs against CLUE's bucket.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError, FormatError
from l1k_assets.lincs.clue_build import plan_build, shipped_checksums
from l1k_assets.lincs.derive import validate_matrix
from l1k_assets.lincs.gctx import write_gctx
from l1k_assets.lincs.gctx_set import GctxSet, check_named_shape
from l1k_assets.lincs.metadata import read_gene_info, read_lincs_table
from l1k_assets.lincs.releases import clue_releases
from l1k_assets.search.connectivity import SignatureFilter
from l1k_assets.search.genespace import index_space_genes
from l1k_assets.search.session import QueryOptions
from l1k_assets.sources.checksums import read_checksum_table
from l1k_assets.sources.listing import ListedFile, list_tree
from l1k_assets.synthetic.clue_writer import BUILD, build_folder, write_lincs2020
from l1k_assets.synthetic.universe import Universe, build_universe
from l1k_jobs.definitions import ALL_ASSETS
from l1k_jobs.resources_config import build_resources
from l1k_jobs.signature_search import Query, SignatureSearch
from tests.conftest import PROJECT_ROOT
from tests.httpserver import FileServer, serve_directory

SEARCH = [
    "raw_lincs_files",
    "core_lincs_genes",
    "core_lincs_signatures",
    "core_lincs_instances",
    "core_lincs_level5",
    "core_signature_ranks",
    "core_reference_null",
]
BUCKET_PATH = "/macchiato.clue.io/builds/LINCS2020"


@dataclass
class Bucket:
    root: Path
    universe: Universe
    truth: dict[str, Any]

    @property
    def table(self) -> Path:
        return self.root / "checksums" / f"{BUILD}.md5.csv"

    def key(self, name: str) -> str:
        """The served path of a file of the build, by its name's start (``level5/level5_beta_trt_cp``)."""
        (match,) = [
            p for p in build_folder(self.root).rglob("*") if p.relative_to(build_folder(self.root)).as_posix().startswith(name)
        ]
        return f"{BUCKET_PATH}/{match.relative_to(build_folder(self.root)).as_posix()}"


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Bucket:
    root = tmp_path_factory.mktemp("lincs2020")
    universe = build_universe("tiny")
    return Bucket(root, universe, write_lincs2020(universe, root))


def _resources(home: Path, server: FileServer, bucket: Bucket, **source: Any) -> dict[str, Any]:
    return build_resources(
        env={},
        home=str(home),
        mode="remote",
        lincs2020_base_url=server.url + BUCKET_PATH,
        lincs2020_md5_table=str(bucket.table),
        lincs_releases=[BUILD],
        **source,
    )


def _run(resources: dict, selection: list[str], instance: dg.DagsterInstance, **kw: Any) -> dg.ExecuteInProcessResult:
    if not instance.has_dynamic_partition("lincs_release", BUILD):
        instance.add_dynamic_partitions("lincs_release", [BUILD])
    return dg.materialize(ALL_ASSETS, selection=selection, partition_key=BUILD, resources=resources, instance=instance, **kw)


def _table(home: Path, asset: str) -> pd.DataFrame:
    return pd.read_parquet(home / "tables" / asset / f"{BUILD}.parquet")


def _program_query(bucket: Bucket, cancer_type: str) -> tuple[list[str], list[str]]:
    """Up = genes raised in the tumor (a reverser lowers them), as symbols."""
    program = bucket.universe.programs[cancer_type]
    return program.index[program > 0].tolist(), program.index[program < 0].tolist()


# ---------------------------------------------------------------- remote: discovered, verified, indexed, queried


def test_release_over_http_is_discovered_verified_indexed_and_queried(bucket: Bucket, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with serve_directory(bucket.root / "s3") as server, dg.DagsterInstance.ephemeral() as instance:
        server.s3_page_size = 4  # the listing arrives in pages, followed by continuation tokens
        resources = _resources(home, server, bucket)
        found = resources["data_source"].published_releases().releases
        assert list(found) == [BUILD] and found[BUILD].n_files == len(list(build_folder(bucket.root).rglob("*.*")))
        result = _run(resources, SEARCH, instance)
        assert result.success
        paths = {path for _, path, _, _ in server.requests}
        warnings = [
            e.user_message for e in instance.all_logs(result.run_id) if "not in the published checksum table" in e.user_message
        ]

    raw = _table(home, "raw_lincs_files")
    level5 = raw[raw.role == "level5"]
    assert dict(zip(level5.part, level5.path.map(lambda p: Path(p).name), strict=True)) == {
        part: f"level5_beta_{part}_n{n}x{len(bucket.universe.genes)}.gctx" for part, n in bucket.truth["level5_parts"].items()
    }
    verified = raw.set_index("name").checksum_verified
    assert (verified[level5.name] == "md5").all() and verified["siginfo_beta.txt"] == verified["geneinfo_beta.txt"] == "md5"
    assert verified["cellinfo_beta.txt"] == verified["compoundinfo_beta.txt"] == verified["instinfo_beta.txt"] == ""
    assert len(warnings) == 3 and all("sha256 recorded" in w for w in warnings)  # the files CLUE's page has no MD5 for
    assert all(p.startswith(BUCKET_PATH) or p == "/macchiato.clue.io" for p in paths)  # nothing but the bucket
    assert not [p for p in paths if "/level3/" in p or "/level4/" in p]  # indexing never downloads level 3

    ranks = _table(home, "core_signature_ranks")
    assert ranks.n_signatures.iloc[0] == sum(bucket.truth["level5_parts"].values()) == bucket.truth["n_signatures"]
    null = _table(home, "core_reference_null")
    assert set(null.pert_type) == {"trt_cp", "trt_sh", "trt_oe", "trt_xpr"}  # exemplars of every treatment, no control

    up, down = _program_query(bucket, "LUAD")
    search = SignatureSearch(str(home))
    compounds = search.run(
        Query(up, down, options=QueryOptions(top=10, min_genes=5, filters=SignatureFilter(pert_types=["trt_cp"]))), BUILD
    )
    assert (compounds.table.pert_type == "trt_cp").all() and compounds.table.tau.notna().all()
    assert set(compounds.table.pert_id[:4]) & set(bucket.universe.truth["reversers"]["LUAD"])
    everything = search.run(Query(up, down, options=QueryOptions(top=400, min_genes=5)), BUILD)
    assert not everything.table.pert_type.str.startswith("ctl").any()  # controls are never listed unless asked for
    assert {"trt_sh", "trt_xpr", "trt_oe"} <= set(everything.perturbagens.pert_type)
    assert not everything.perturbagens.duplicated(["pert_type", "pert_id"]).any()

    env = {"PATH": str(Path(sys.executable).parent), "L1K_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    for gene_list, name in ((up, "up.txt"), (down, "down.txt")):
        (tmp_path / name).write_text("\n".join(gene_list))
    command = [sys.executable, "-m", "l1k_jobs.cli", "query", "--release", BUILD, "--up", str(tmp_path / "up.txt")]
    command += [
        "--down",
        str(tmp_path / "down.txt"),
        "--pert-type",
        "trt_cp",
        "--cell",
        "A375",
        "--dose",
        "5",
        "20",
        "--min-genes",
        "5",
        "--json",
    ]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    signatures = pd.DataFrame(json.loads(done.stdout)["results"])
    assert (
        (signatures.pert_type == "trt_cp").all() and (signatures.cell_id == "A375").all() and (signatures.pert_dose == 10).all()
    )


def test_md5_mismatch_is_refused_under_strict_and_recorded_under_warn(bucket: Bucket, tmp_path: Path) -> None:
    with serve_directory(bucket.root / "s3") as server, dg.DagsterInstance.ephemeral() as instance:
        path = bucket.key("level5/level5_beta_trt_sh")
        server.corrupt(path)
        strict = _resources(tmp_path / "strict", server, bucket)
        result = _run(strict, ["raw_lincs_files"], instance, raise_on_error=False)
        assert not result.success
        error = str(result.get_step_failure_events()[0].event_specific_data.error)
        assert "md5 mismatch" in error and "level5_beta_trt_sh" in error
        cached = strict["data_source"].downloader().cache_path(server.url + path)
        assert not cached.exists() and not (tmp_path / "strict" / "tables" / "raw_lincs_files").exists()

        warn = _resources(tmp_path / "warn", server, bucket, lincs2020_verify="warn")
        assert _run(warn, ["raw_lincs_files"], instance).success
    raw = _table(tmp_path / "warn", "raw_lincs_files").set_index("part")
    assert raw.loc["trt_sh", "checksum_verified"].startswith("md5 mismatch: published ")
    assert raw.loc["trt_cp", "checksum_verified"] == "md5"


def test_a_release_restricted_to_compounds_fetches_and_indexes_only_them(bucket: Bucket, tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = {"ops": {"raw_lincs_files": {"config": {"parts": ["trt_cp"]}}}}
    with serve_directory(bucket.root / "s3") as server, dg.DagsterInstance.ephemeral() as instance:
        resources = _resources(home, server, bucket)
        assert _run(resources, SEARCH[:-1], instance, run_config=config).success
        requested = {path for _, path, _, _ in server.requests}
        bad = {"ops": {"raw_lincs_files": {"config": {"parts": ["trt_cp", "trt_lig"]}}}}
        failed = _run(resources, ["raw_lincs_files"], instance, run_config=bad, raise_on_error=False)
    assert [p for p in requested if "/level5/" in p] == [bucket.key("level5/level5_beta_trt_cp")]
    level5 = _table(home, "core_lincs_level5")
    assert level5.part.tolist() == ["trt_cp"] and level5.n_columns.sum() == bucket.truth["level5_parts"]["trt_cp"]
    assert _table(home, "core_signature_ranks").n_signatures.iloc[0] == bucket.truth["level5_parts"]["trt_cp"]
    error = str(failed.get_step_failure_events()[0].event_specific_data.error)
    assert "no part ['trt_lig']" in error and "'trt_xpr'" in error


def test_a_reissued_file_changes_the_release_fingerprint(bucket: Bucket) -> None:
    with serve_directory(bucket.root / "s3") as server:
        builds = {BUILD: (server.url + BUCKET_PATH, bucket.table)}
        before = clue_releases(builds)[BUILD].fingerprint
        assert clue_releases(builds)[BUILD].fingerprint == before
        siginfo = (build_folder(bucket.root) / "siginfo_beta.txt").read_bytes()
        server.set_file(f"{BUCKET_PATH}/siginfo_beta.txt", siginfo + b"\n")  # CLUE re-issues a table
        assert clue_releases(builds)[BUILD].fingerprint != before
        server.fail("/macchiato.clue.io", 404)
        assert clue_releases(builds) == {}  # a build not (yet) in the bucket is simply not published


# ---------------------------------------------------------------- the real LINCS 2020 metadata and MD5s


def test_real_beta_gene_and_compound_tables(shared_data: Path) -> None:
    genes = read_gene_info(shared_data / "GeneExpressionGNN" / "geneinfo_beta.txt")
    assert len(genes) == 12328 and genes.is_landmark.sum() == 978
    assert len(index_space_genes(genes, "landmark")) == 978 and len(index_space_genes(genes, "bing")) == 978 + 9196
    assert index_space_genes(genes, "full") is None
    compounds = read_lincs_table(shared_data / "drugs" / "sigsearch_lincs_pert_info2_LINCS2020cp.tsv.gz", "pert_info")
    assert len(compounds) == 34419 and compounds.pert_id.is_unique and set(compounds.pert_type) == {"trt_cp"}


def test_shipped_md5_table_names_its_source_and_the_published_values() -> None:
    table = read_checksum_table(shipped_checksums(BUILD))
    assert table.digests["siginfo_beta.txt"] == "ab609fc04fab21180b07833119d1c7b6"
    assert table.digests["geneinfo_beta.txt"] == "45c725d17ce6c377f1e7de07b821a5f0"
    assert table.digests["level5/level5_beta_trt_cp_n720216x12328.gctx"] == "9a82806e2aba6ec2a866cba77bd57fda"
    assert any("clue.io" in line for line in table.provenance) and any("2026-12-07" in line for line in table.provenance)
    listing = [ListedFile(name, 1) for name in table.digests] + [
        ListedFile(f"{name}_beta.txt", 1) for name in ("compoundinfo", "cellinfo", "instinfo")
    ]
    plan = plan_build(listing, [5], [], "LINCS2020")
    parts = {f.part: f.key for f in plan if f.role == "level5"}
    assert sorted(parts) == ["ctl", "trt_cp", "trt_misc", "trt_oe", "trt_sh", "trt_xpr"]
    assert sum(int(k.split("_n")[1].split("x")[0]) for k in parts.values()) == 1_201_944  # CLUE's level-5 total


# ---------------------------------------------------------------- bad input


def test_a_beta_table_without_a_required_column_names_the_file_and_the_column(bucket: Bucket, tmp_path: Path) -> None:
    siginfo = pd.read_csv(build_folder(bucket.root) / "siginfo_beta.txt", sep="\t", dtype=str)
    broken = tmp_path / "siginfo_beta.txt"
    siginfo.drop(columns=["cell_iname"]).to_csv(broken, sep="\t", index=False)
    with pytest.raises(
        FormatError, match=r"siginfo_beta\.txt, line 1: expected sig_info columns.*found no cell_id \(cell_iname\)"
    ):
        read_lincs_table(broken, "sig_info")
    trimmed = tmp_path / "few" / "siginfo_beta.txt"
    trimmed.parent.mkdir()
    siginfo[["sig_id", "pert_id", "cmap_name", "pert_type", "cell_iname", "pert_idose", "pert_itime", "distil_ids"]].to_csv(
        trimmed, sep="\t", index=False
    )
    table = read_lincs_table(trimmed, "sig_info")  # only some columns, but the needed ones: dose and time from display text
    assert len(table) == len(siginfo) and set(table.pert_time) == {24.0, 96.0}
    assert (
        table.pert_dose[table.pert_type == "trt_cp"].notna().all() and table.pert_dose[table.pert_type != "trt_cp"].isna().all()
    )


def test_compoundinfo_beta_repeats_a_compound_per_target_and_reads_as_one_row_each(bucket: Bucket) -> None:
    path = build_folder(bucket.root) / "compoundinfo_beta.txt"
    rows = pd.read_csv(path, sep="\t", dtype=str)
    compounds = read_lincs_table(path, "pert_info")
    assert rows.pert_id.duplicated().sum() == bucket.truth["compounds_with_several_targets"] > 0
    assert compounds.pert_id.tolist() == rows.pert_id.drop_duplicates().tolist() and set(compounds.pert_type) == {"trt_cp"}
    first = rows.pert_id[rows.pert_id.duplicated()].iloc[0]
    assert compounds.set_index("pert_id").target[first] == "|".join(rows.target[rows.pert_id == first])


def test_matrix_files_are_checked_against_sig_info_and_their_names(bucket: Bucket, tmp_path: Path) -> None:
    genes = read_gene_info(build_folder(bucket.root) / "geneinfo_beta.txt")
    sig = read_lincs_table(build_folder(bucket.root) / "siginfo_beta.txt", "sig_info")
    cp = next((build_folder(bucket.root) / "level5").glob("level5_beta_trt_cp_*"))
    sh = next((build_folder(bucket.root) / "level5").glob("level5_beta_trt_sh_*"))
    check = validate_matrix(GctxSet.of([cp, sh]), genes.gene_id, sig.sig_id, require_every_column=False)
    assert check.n_columns == bucket.truth["level5_parts"]["trt_cp"] + bucket.truth["level5_parts"]["trt_sh"]
    assert len(check.without_data) == len(sig) - check.n_columns
    with pytest.raises(DataError, match="column ids differ"):
        validate_matrix(GctxSet.of([cp, sh]), genes.gene_id, sig.sig_id)

    stray = pd.DataFrame(np.zeros((len(genes), 2), dtype=np.float32), index=genes.gene_id, columns=["NOT:A:SIG", "NOR:THIS"])
    foreign = write_gctx(tmp_path / "level5_beta_trt_misc_n2x400.gctx", stray)
    with pytest.raises(DataError, match=r"level5_beta_trt_misc_n2x400\.gctx: 2 column ids are not in the metadata table"):
        validate_matrix(GctxSet.of([cp, foreign]), genes.gene_id, sig.sig_id, require_every_column=False)
    misnamed = write_gctx(tmp_path / "level5_beta_trt_misc_n3x400.gctx", stray)
    with pytest.raises(FormatError, match=r"n3x400\.gctx.*the 3 columns × 400 rows its name states.*found 2 × 400"):
        check_named_shape(misnamed)
    copy = tmp_path / "copy.gctx"
    copy.write_bytes(cp.read_bytes())
    with pytest.raises(DataError, match=r"in both level5_beta_trt_cp_.* and copy\.gctx"):
        GctxSet.of([cp, copy]).col_ids()


def test_a_build_missing_a_table_or_a_level_is_named(bucket: Bucket) -> None:
    listing = list_tree(build_folder(bucket.root).as_uri())
    without = [f for f in listing if f.key != "instinfo_beta.txt"]
    with pytest.raises(DataError, match=r"lists no instinfo_beta\.txt"):
        plan_build(without, [5], [], "LINCS2020")
    with pytest.raises(DataError, match="no level-5 matrix"):
        plan_build([f for f in listing if not f.key.startswith("level5/")], [5], [], "LINCS2020")


def test_a_malformed_md5_table_is_a_format_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "# copied today\nfile,md5\nsiginfo_beta.txt,ab609fc04fab21180b07833119d1c7b6\n../x,ab609fc04fab21180b07833119d1c7b6\n"
    )
    with pytest.raises(FormatError, match=r"t\.csv, line 4: expected '<file path below the release folder>,<32 hex"):
        read_checksum_table(path)
    path.write_text("name,digest\n")
    with pytest.raises(FormatError, match="line 1: expected the header line 'file,md5'"):
        read_checksum_table(path)
