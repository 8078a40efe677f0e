"""The real servers' URL layouts, checked against URLs that exist on those servers."""

from __future__ import annotations

import pytest

from l1k_assets.sources.layout import (
    CLUE_DEFAULT_BASE,
    DEFAULT_GENE_SET_FILES,
    GDSC_COMPOUNDS_FILE,
    GDSC_DEFAULT_BASE,
    GDSC_EXPRESSION_FILE,
    GDSC_RESPONSE_FILE,
    GEO_DEFAULT_BASE,
    STRING_DEFAULT_BASE,
    clue_repurposing_url,
    gdsc_url,
    geo_gds_soft_url,
    geo_nnn,
    geo_platform_url,
    geo_series_matrix_url,
    geo_soft_family_url,
    geo_suppl_url,
    msigdb_url,
    string_url,
)

MSIGDB_BASE = "https://data.broadinstitute.org/gsea-msigdb/msigdb/release/2023.2.Hs"


@pytest.mark.parametrize(
    ("accession", "folder"),
    [
        ("GSE92742", "GSE92nnn"),
        ("GSE70138", "GSE70nnn"),
        ("GSE6631", "GSE6nnn"),
        ("GSE123", "GSEnnn"),
        ("GSE1", "GSEnnn"),
        ("GPL96", "GPLnnn"),
        ("GPL10558", "GPL10nnn"),
        ("GDS3257", "GDS3nnn"),
        ("GSM1000000", "GSM1000nnn"),
    ],
)
def test_geo_nnn_buckets_by_thousands(accession: str, folder: str) -> None:
    assert geo_nnn(accession) == folder


@pytest.mark.parametrize("bad", ["", "GSE", "gse92742", "GSE92742 ", "GSE92a42", "SRP12345", "GSE92742/../x", "../GSE1", "GSE-1"])
def test_geo_nnn_refuses_non_accessions(bad: str) -> None:
    with pytest.raises(ValueError, match="not a GEO accession"):
        geo_nnn(bad)


def test_geo_series_urls_match_the_real_ftp_tree() -> None:
    assert (
        geo_series_matrix_url(GEO_DEFAULT_BASE, "GSE6631")
        == "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE6nnn/GSE6631/matrix/GSE6631_series_matrix.txt.gz"
    )
    assert (
        geo_soft_family_url(GEO_DEFAULT_BASE, "GSE92742")
        == "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE92nnn/GSE92742/soft/GSE92742_family.soft.gz"
    )
    assert (
        geo_suppl_url(GEO_DEFAULT_BASE, "GSE92742", "GSE92742_SHA512SUMS.txt.gz")
        == "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE92nnn/GSE92742/suppl/GSE92742_SHA512SUMS.txt.gz"
    )


def test_geo_suppl_folder_as_the_lincs_assets_build_it() -> None:
    assert (
        geo_suppl_url(GEO_DEFAULT_BASE, "GSE92742", "").rstrip("/")
        == "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE92nnn/GSE92742/suppl"
    )
    assert (
        geo_suppl_url(GEO_DEFAULT_BASE + "/", "GSE70138", "")
        == "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE70nnn/GSE70138/suppl/"
    )


def test_geo_dataset_and_platform_urls() -> None:
    assert (
        geo_gds_soft_url(GEO_DEFAULT_BASE, "GDS3257")
        == "https://ftp.ncbi.nlm.nih.gov/geo/datasets/GDS3nnn/GDS3257/soft/GDS3257.soft.gz"
    )
    assert (
        geo_platform_url(GEO_DEFAULT_BASE, "GPL96", "annot")
        == "https://ftp.ncbi.nlm.nih.gov/geo/platforms/GPLnnn/GPL96/annot/GPL96.annot.gz"
    )
    assert (
        geo_platform_url(GEO_DEFAULT_BASE, "GPL10558", "soft")
        == "https://ftp.ncbi.nlm.nih.gov/geo/platforms/GPL10nnn/GPL10558/soft/GPL10558_family.soft.gz"
    )


def test_geo_urls_refuse_the_wrong_accession_kind_and_platform_kind() -> None:
    with pytest.raises(ValueError, match="expected a GSE accession"):
        geo_series_matrix_url(GEO_DEFAULT_BASE, "GPL96")
    with pytest.raises(ValueError, match="expected a GPL accession"):
        geo_platform_url(GEO_DEFAULT_BASE, "GSE92742", "annot")
    with pytest.raises(ValueError, match="expected a GDS accession"):
        geo_gds_soft_url(GEO_DEFAULT_BASE, "GSE1")
    with pytest.raises(ValueError, match="platform file kind"):
        geo_platform_url(GEO_DEFAULT_BASE, "GPL96", "txt")  # type: ignore[arg-type]


def test_base_urls_of_a_mirror_keep_the_layout() -> None:
    assert (
        geo_series_matrix_url("http://127.0.0.1:8000/geo/", "GSE6631")
        == "http://127.0.0.1:8000/geo/series/GSE6nnn/GSE6631/matrix/GSE6631_series_matrix.txt.gz"
    )
    assert (
        geo_platform_url("file:///data/mirror/geo", "GPL570", "annot")
        == "file:///data/mirror/geo/platforms/GPLnnn/GPL570/annot/GPL570.annot.gz"
    )


def test_clue_repurposing_urls() -> None:
    assert (
        clue_repurposing_url(CLUE_DEFAULT_BASE, "drugs")
        == "https://s3.amazonaws.com/data.clue.io/repurposing/downloads/repurposing_drugs_20200324.txt"
    )
    assert (
        clue_repurposing_url(CLUE_DEFAULT_BASE, "samples", date="20180907")
        == "https://s3.amazonaws.com/data.clue.io/repurposing/downloads/repurposing_samples_20180907.txt"
    )
    with pytest.raises(ValueError, match="repurposing table"):
        clue_repurposing_url(CLUE_DEFAULT_BASE, "targets")  # type: ignore[arg-type]


def test_gdsc_urls() -> None:
    assert (
        gdsc_url(GDSC_DEFAULT_BASE, GDSC_RESPONSE_FILE)
        == "https://cog.sanger.ac.uk/cancerrxgene/GDSC_release8.5/GDSC2_fitted_dose_response_27Oct23.csv"
    )
    assert (
        gdsc_url(GDSC_DEFAULT_BASE, GDSC_COMPOUNDS_FILE)
        == "https://cog.sanger.ac.uk/cancerrxgene/GDSC_release8.5/screened_compounds_rel_8.5.csv"
    )
    assert (
        gdsc_url(GDSC_DEFAULT_BASE + "/", GDSC_EXPRESSION_FILE)
        == "https://cog.sanger.ac.uk/cancerrxgene/GDSC_release8.5/Cell_line_RMA_proc_basalExp.txt.zip"
    )


def test_string_urls() -> None:
    assert (
        string_url(STRING_DEFAULT_BASE, "links")
        == "https://stringdb-downloads.org/download/protein.links.v12.0/9606.protein.links.v12.0.txt.gz"
    )
    assert (
        string_url(STRING_DEFAULT_BASE, "info")
        == "https://stringdb-downloads.org/download/protein.info.v12.0/9606.protein.info.v12.0.txt.gz"
    )
    assert (
        string_url(STRING_DEFAULT_BASE, "links", taxon=10090, version="11.5")
        == "https://stringdb-downloads.org/download/protein.links.v11.5/10090.protein.links.v11.5.txt.gz"
    )
    with pytest.raises(ValueError, match="STRING table kind"):
        string_url(STRING_DEFAULT_BASE, "actions")  # type: ignore[arg-type]


def test_msigdb_urls_for_the_default_gene_sets() -> None:
    urls = [msigdb_url(MSIGDB_BASE, name) for name in DEFAULT_GENE_SET_FILES]
    assert urls == [
        "https://data.broadinstitute.org/gsea-msigdb/msigdb/release/2023.2.Hs/h.all.v2023.2.Hs.symbols.gmt",
        "https://data.broadinstitute.org/gsea-msigdb/msigdb/release/2023.2.Hs/c2.cp.kegg_legacy.v2023.2.Hs.symbols.gmt",
        "https://data.broadinstitute.org/gsea-msigdb/msigdb/release/2023.2.Hs/c2.cp.reactome.v2023.2.Hs.symbols.gmt",
    ]
