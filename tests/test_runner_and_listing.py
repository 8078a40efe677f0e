"""Stage planning across partition schemes, and role-based file discovery."""

import dagster as dg
import pytest

from l1k_assets.errors import DataError, SourceError
from l1k_assets.sources.listing import LINCS_GEO_ROLES, OPTIONAL_LINCS_ROLES, list_directory, pick_files
from l1k_jobs.plan import plan_stages

cohorts = dg.StaticPartitionsDefinition(["c1", "c2"])
releases = dg.DynamicPartitionsDefinition(name="rel")


@dg.asset
def ref() -> int:
    return 1


@dg.asset(partitions_def=cohorts)
def per_cohort(ref: int) -> int:
    return ref


@dg.asset(partitions_def=cohorts)
def per_cohort_clean(per_cohort: int) -> int:
    return per_cohort


@dg.asset
def combined(per_cohort_clean: dict) -> int:
    return len(per_cohort_clean)


@dg.asset(partitions_def=releases)
def per_release() -> int:
    return 0


def test_plan_stages_orders_by_dependency_and_groups_by_partitions() -> None:
    stages = plan_stages([combined, per_cohort_clean, per_cohort, ref, per_release])
    names = [[k.to_user_string() for k in s.keys] for s in stages]
    flat = [n for s in names for n in s]
    assert flat.index("ref") < flat.index("per_cohort") < flat.index("per_cohort_clean") < flat.index("combined")
    assert ["per_cohort", "per_cohort_clean"] in names  # one stage, one run per cohort
    for stage in stages:
        assert (
            len({a.partitions_def for a in (ref, per_cohort, per_cohort_clean, combined, per_release) if a.key in stage.keys})
            == 1
        )


GSE92742_NAMES = [
    "GSE92742_Broad_LINCS_Level3_INF_mlr12k_n1319138x12328.gctx.gz",
    "GSE92742_Broad_LINCS_Level4_ZSPCINF_mlr12k_n1319138x12328.gctx.gz",
    "GSE92742_Broad_LINCS_Level5_COMPZ.MODZ_n473647x12328.gctx.gz",
    "GSE92742_Broad_LINCS_README.pdf",
    "GSE92742_Broad_LINCS_cell_info.txt.gz",
    "GSE92742_Broad_LINCS_gene_info.txt.gz",
    "GSE92742_Broad_LINCS_gene_info_delta_landmark.txt.gz",
    "GSE92742_Broad_LINCS_inst_info.txt.gz",
    "GSE92742_Broad_LINCS_pert_info.txt.gz",
    "GSE92742_Broad_LINCS_pert_metrics.txt.gz",
    "GSE92742_Broad_LINCS_sig_info.txt.gz",
    "GSE92742_Broad_LINCS_sig_metrics.txt.gz",
    "GSE92742_SHA512SUMS.txt.gz",
]


def test_pick_files_finds_each_role_in_the_real_gse92742_listing() -> None:
    chosen = pick_files(GSE92742_NAMES, LINCS_GEO_ROLES, "GSE92742", OPTIONAL_LINCS_ROLES)
    assert chosen["gene_info"] == "GSE92742_Broad_LINCS_gene_info.txt.gz"
    assert chosen["level5"].startswith("GSE92742_Broad_LINCS_Level5_COMPZ.MODZ")
    assert chosen["level3"].startswith("GSE92742_Broad_LINCS_Level3_INF")
    assert chosen["checksums"] == "GSE92742_SHA512SUMS.txt.gz"


def test_pick_files_errors_on_missing_and_ambiguous_roles() -> None:
    without_sig = [n for n in GSE92742_NAMES if "sig_info" not in n]
    with pytest.raises(DataError, match="no file for role 'sig_info'"):
        pick_files(without_sig, LINCS_GEO_ROLES, "GSE92742", OPTIONAL_LINCS_ROLES)
    with pytest.raises(DataError, match="several files match role 'level5'"):
        pick_files([*GSE92742_NAMES, "GSE92742_Broad_LINCS_Level5_other.gctx"], LINCS_GEO_ROLES, "GSE92742")
    only_level3 = [n for n in GSE92742_NAMES if "Level5" not in n]
    assert "level5" not in pick_files(only_level3, LINCS_GEO_ROLES, "x", OPTIONAL_LINCS_ROLES)


def test_list_directory_file_urls(tmp_path) -> None:
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "a.gctx").write_text("a")
    (tmp_path / ".partial.tmp").write_text("x")
    (tmp_path / "sub").mkdir()
    assert list_directory(tmp_path.as_uri()) == ["a.gctx", "b.txt"]
    with pytest.raises(SourceError, match="directory not found"):
        list_directory((tmp_path / "nope").as_uri())
