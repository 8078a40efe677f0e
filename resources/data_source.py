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
from l1k_assets.lincs.releases import Release, embedded_releases, geo_releases
from l1k_assets.sources.download import Downloader, FetchedFile
from l1k_assets.sources.layout import (
    CLUE_DEFAULT_BASE,
    GDSC_DEFAULT_BASE,
    GEO_DEFAULT_BASE,
    MSIGDB_DEFAULT_BASE,
    STRING_DEFAULT_BASE,
)
from l1k_assets.synthetic.generator import ensure_mirror
from l1k_assets.synthetic.universe import SCALES
from resources.home import home_dir

Source = Literal["geo", "clue", "gdsc", "string", "genesets", "singlecell"]


class DataSource(dg.ConfigurableResource):
    """Where raw files come from and where they are cached."""

    mode: Literal["embedded", "remote"] = Field("embedded", description="embedded: the generated mirror; remote: base URLs")
    home: str = Field("", description="l1k home directory (default $L1K_HOME or ./.l1k_home)")
    scale: str = Field("default", description="embedded universe size: tiny, default or large")
    seed: int = Field(0, description="seed of the embedded universe")
    geo_base_url: str = GEO_DEFAULT_BASE
    clue_base_url: str = CLUE_DEFAULT_BASE
    gdsc_base_url: str = GDSC_DEFAULT_BASE
    string_base_url: str = STRING_DEFAULT_BASE
    genesets_base_url: str = MSIGDB_DEFAULT_BASE
    singlecell_base_url: str = Field(
        "",
        description="folder (http(s):// or file://) holding <dataset>/<files> for l1k_assets/singlecell/datasets.csv; "
        "single-cell data has no one public server, so remote mode needs it set",
    )
    lincs_releases: list[str] = Field(
        default_factory=lambda: ["GSE92742", "GSE70138"], description="GEO series the release sensor watches (remote mode)"
    )
    retries: int = 4
    timeout_s: float = 60.0

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
            return (self.mirror_root() / source).as_uri()
        if source == "singlecell" and not self.singlecell_base_url:
            raise SourceError(
                "singlecell_base_url", "no single-cell base URL is configured: set L1K_SINGLECELL_BASE_URL to your data folder"
            )
        return {
            "singlecell": self.singlecell_base_url,
            "geo": self.geo_base_url,
            "clue": self.clue_base_url,
            "gdsc": self.gdsc_base_url,
            "string": self.string_base_url,
            "genesets": self.genesets_base_url,
        }[source].rstrip("/")

    def downloader(self) -> Downloader:
        """The cached, retrying, resuming downloader."""
        return Downloader(home_dir(self.home) / "cache", retries=self.retries, timeout_s=self.timeout_s)

    def published_releases(self) -> dict[str, Release]:
        """Releases the configured source publishes now, with fingerprints (raises SourceError if unreachable)."""
        if self.mode == "embedded":
            return embedded_releases(self.mirror_manifest())
        return geo_releases(self.base_url("geo"), self.lincs_releases, self.downloader())

    def fetch(self, url: str, **checksums: str | None) -> FetchedFile:
        """Fetch one file (cached by URL, verified against any checksum given)."""
        return self.downloader().fetch(url, **checksums)
