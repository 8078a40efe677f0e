"""Which of the 978 landmarks a data set actually has, and the one rule for when too few remain.

Real files rarely carry every landmark: GSE92743's pair set holds 970 of the 978, an
HG-U133B platform about 221, a single-cell atlas whatever its QC kept. Every place l1k
intersects landmarks (the inference pairs, GEO cohorts, LINCS releases, single-cell data)
uses the landmarks present, reports the missing ones by name, and refuses only when fewer
than a configurable share remain, so one data set's gaps neither stop a run nor silently
shrink everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from l1k_assets.errors import DataError

DEFAULT_MIN_SHARE = 0.9  # GSE92743 keeps 99.2 %; an HG-U133B cohort's 22.6 % falls far below


@dataclass(frozen=True)
class LandmarkCoverage:
    """The landmarks present in a data set (in landmark order) and the ones it lacks."""

    present: list[str]
    missing: list[str]

    @property
    def total(self) -> int:
        """How many landmarks were looked for."""
        return len(self.present) + len(self.missing)

    @property
    def share(self) -> float:
        """Fraction of the landmarks present (1.0 when none were looked for)."""
        return len(self.present) / self.total if self.total else 1.0

    def describe(self) -> dict[str, object]:
        """What an asset page and an MLflow run show: counts, share and every missing landmark."""
        return {
            "landmarks_present": len(self.present),
            "landmarks_total": self.total,
            "landmark_share": round(self.share, 4),
            "landmarks_missing": list(self.missing),
        }

    def require(self, min_share: float, what: str) -> LandmarkCoverage:
        """Self, or a DataError naming ``what`` and its coverage when fewer than ``min_share`` remain."""
        if self.share < min_share:
            raise DataError(
                f"{what}: only {len(self.present)} of {self.total} landmarks ({self.share:.1%}) are present, "
                f"below the required {min_share:.0%}; missing e.g. {self.missing[:10]}"
            )
        return self


def landmark_coverage(available: Iterable[object], landmarks: Sequence[object]) -> LandmarkCoverage:
    """Split ``landmarks`` (ids or symbols, compared as text) into those in ``available`` and the rest."""
    have = {str(g) for g in available}
    wanted = [str(g) for g in landmarks]
    return LandmarkCoverage([g for g in wanted if g in have], [g for g in wanted if g not in have])


def check_min_share(value: float) -> float:
    """A share setting must lie in (0, 1]: 0 would accept a data set with no landmark at all."""
    if not 0 < value <= 1:
        raise ValueError(f"min_landmark_share must be in (0, 1], got {value}")
    return value
