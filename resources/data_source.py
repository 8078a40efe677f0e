"""The one data-source resource: every raw file is fetched through it.

``mode: embedded`` serves the generated mirror (real formats, real layout) through ``file://``
URLs; ``mode: remote`` uses the real servers' base URLs (or any mirror of them, such as the
local HTTP server the tests run). Both go through the same downloader, cache and checksums,
so the code path a user runs against GEO is the one the tests exercise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from l1k_assets.errors import SourceError
from l1k_assets.lincs.clue_build import shipped_checksums
from l1k_assets.lincs.release_files import ReleaseLocation
from l1k_assets.lincs.releases import (
    DEFAULT_RELEASES,
    Published,
    Release,
    clue_releases,
    embedded_releases,
    geo_releases,
    release_kind,
)
from l1k_assets.sources.download import Downloader, FetchedFile, TransferLimits
from l1k_assets.sources.layout import (
    CLUE_BUILD_MIRROR_PATH,
    CLUE_DEFAULT_BASE,
    GDSC_DEFAULT_BASE,
    GEO_DEFAULT_BASE,
    LINCS2020_DEFAULT_BASE,
    MSIGDB_DEFAULT_BASE,
    STRING_DEFAULT_BASE,
    XENA_GDC_DEFAULT_BASE,
    geo_suppl_url,
)
from l1k_assets.synthetic.generator import ensure_mirror
from l1k_assets.synthetic.universe import SCALES
from resources.home import home_dir

Source = Literal["geo", "clue", "lincs2020", "gdsc", "string", "genesets", "singlecell", "tcga"]
BUILD_SOURCES: dict[str, Source] = {"LINCS2020": "lincs2020"}  # CLUE build -> the source holding it


class DataSource(dg.ConfigurableResource):
    """Where raw files come from and where they are cached."""

    mode: Literal["embedded", "remote"] = Field("embedded", description="embedded: the generated mirror; remote: base URLs")
    home: str = Field("", description="l1k home directory (default $L1K_HOME or ./.l1k_home)")
    scale: str = Field("default", description="embedded universe size: tiny, default or large")
    seed: int = Field(0, description="seed of the embedded universe")
    geo_base_url: str = GEO_DEFAULT_BASE
    clue_base_url: str = CLUE_DEFAULT_BASE
    lincs2020_base_url: str = Field(LINCS2020_DEFAULT_BASE, description="the LINCS 2020 build folder of CLUE's bucket")
    lincs2020_md5_table: str = Field(
        "",
        description="CSV of LINCS 2020's published MD5s (file,md5); empty: l1k's shipped table (the mirror's own when embedded)",
    )
    lincs2020_verify: Literal["strict", "warn"] = Field(
        "strict", description="strict: an MD5 mismatch refuses the file; warn: it is kept and recorded on the asset page"
    )
    gdsc_base_url: str = GDSC_DEFAULT_BASE
    tcga_base_url: str = Field(
        XENA_GDC_DEFAULT_BASE, description="UCSC Xena's GDC hub (download/TCGA-<cohort>.*), with Ding et al.'s response table"
    )
    string_base_url: str = STRING_DEFAULT_BASE
    genesets_base_url: str = MSIGDB_DEFAULT_BASE
    singlecell_base_url: str = Field(
        "",
        description="folder (http(s):// or file://) holding <dataset>/<files> for l1k_assets/singlecell/datasets.csv; "
        "single-cell data has no one public server, so remote mode needs it set",
    )
    lincs_releases: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RELEASES),
        description="releases the release sensor watches in remote mode: GEO series and CLUE builds (LINCS2020)",
    )
    retries: int = 4
    timeout_s: float = Field(60.0, description="seconds a single read may wait")
    deadline_hours: float = Field(36.0, description="longest one file's transfer may take, retries included")
    min_rate_kib: float = Field(16.0, description="KiB/s a transfer must keep over 5 minutes, else it is cut and resumed")
    allow_unframed: bool = Field(
        False, description="keep a body sent without Content-Length or chunking and not covered by a checksum (as unverified)"
    )
    redirect_hosts: str = Field("", description="comma-separated hosts a download may be redirected to (other than its own)")

    def mirror_root(self) -> Path:
        """The embedded mirror's folder, generated on first use."""
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}, got {self.scale!r}")
        root = home_dir(self.home) / "mirror" / f"{self.scale}-seed{self.seed}"
        ensure_mirror(root, self.scale, self.seed)
        return root

    def mirror_manifest(self) -> dict[str, Any]:
        """The embedded mirror's manifest (planted truth and file digests)."""
        return ensure_mirror(self.mirror_root(), self.scale, self.seed)

    def base_url(self, source: Source) -> str:
        """Base URL of one source in the current mode."""
        if self.mode == "embedded":
            if source == "lincs2020":
                return (self.mirror_root() / CLUE_BUILD_MIRROR_PATH / "LINCS2020").as_uri()
            return (self.mirror_root() / source).as_uri()
        if source == "singlecell" and not self.singlecell_base_url:
            raise SourceError(
                "singlecell_base_url", "no single-cell base URL is configured: set L1K_SINGLECELL_BASE_URL to your data folder"
            )
        return {
            "singlecell": self.singlecell_base_url,
            "geo": self.geo_base_url,
            "clue": self.clue_base_url,
            "lincs2020": self.lincs2020_base_url,
            "gdsc": self.gdsc_base_url,
            "tcga": self.tcga_base_url,
            "string": self.string_base_url,
            "genesets": self.genesets_base_url,
        }[source].rstrip("/")

    def downloader(self) -> Downloader:
        """The cached, retrying, resuming downloader."""
        limits = TransferLimits(deadline_s=self.deadline_hours * 3600, min_rate_bps=self.min_rate_kib * 1024)
        return Downloader(
            home_dir(self.home) / "cache",
            retries=self.retries,
            timeout_s=self.timeout_s,
            limits=limits,
            allow_unframed=self.allow_unframed,
            redirect_hosts=tuple(h.strip() for h in self.redirect_hosts.split(",") if h.strip()),
        )

    def checksum_table(self, build: str) -> Path:
        """The MD5 table a CLUE build is verified against: configured, else the mirror's (embedded) or l1k's own."""
        if self.lincs2020_md5_table:
            return Path(self.lincs2020_md5_table)
        if self.mode == "embedded":
            return self.mirror_root() / "checksums" / shipped_checksums(build).name
        return shipped_checksums(build)

    def release_location(self, release: str) -> ReleaseLocation:
        """Where a release's files are (a GEO supplementary folder or a CLUE build folder) and how they are verified."""
        unpack = home_dir(self.home) / "releases" / release
        if release_kind(release) == "geo":
            return ReleaseLocation(release, "geo", geo_suppl_url(self.base_url("geo"), release, "").rstrip("/"), unpack)
        url = self.base_url(BUILD_SOURCES[release])
        return ReleaseLocation(release, "clue", url, unpack, self.checksum_table(release), self.lincs2020_verify)

    def published_releases(self) -> Published:
        """Releases the watched sources publish now, with fingerprints; a source that cannot be asked is listed
        as unreachable, and SourceError is raised only when none of them can."""
        if self.mode == "embedded":
            return Published(embedded_releases(self.mirror_manifest()), {})
        kinds = {release: release_kind(release) for release in self.lincs_releases}
        series = [r for r, kind in kinds.items() if kind == "geo"]
        builds = {r: (self.base_url(BUILD_SOURCES[r]), self.checksum_table(r)) for r, kind in kinds.items() if kind == "clue"}
        asks = {
            "geo": lambda: geo_releases(self.base_url("geo"), series, self.downloader()),
            "clue": lambda: clue_releases(builds),
        }
        found: dict[str, Release] = {}
        unreachable: dict[str, str] = {}
        for source, ask in asks.items():
            if source not in kinds.values():
                continue
            try:
                found |= ask()
            except SourceError as exc:
                unreachable[source] = str(exc)
        if unreachable and not found and len(unreachable) == len(set(kinds.values())):
            raise SourceError(", ".join(unreachable), f"no release source could be reached: {unreachable}")
        return Published(found, unreachable)

    def fetch(self, url: str, **checksums: str | None) -> FetchedFile:
        """Fetch one file (cached by URL, verified against any checksum given)."""
        return self.downloader().fetch(url, **checksums)
