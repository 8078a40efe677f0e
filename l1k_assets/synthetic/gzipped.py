"""The embedded default's one way to write gzip: deterministic and atomic.

Every generated ``.gz`` file has the same fixed header (mtime 0, the inner file name, as GEO's
files carry), so the same seed gives byte-identical files and identical checksum lists, and
is written under a temporary name and renamed, so a mirror never holds half a file.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from l1k_assets.fileio import atomic_path

TEXT_LEVEL = 6  # tables and text: small, so the better ratio is cheap
BULK_LEVEL = 1  # matrices (GCTX, count matrices): levels above 1 gain ~5 % here at several times the time


@contextmanager
def gz_stream(dest: Path, level: int = TEXT_LEVEL) -> Iterator[gzip.GzipFile]:
    """A gzip stream onto ``dest`` (written to a temporary name, renamed when the block succeeds)."""
    with (
        atomic_path(dest) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename=dest.name.removesuffix(".gz"), mode="wb", fileobj=raw, mtime=0, compresslevel=level) as gz,
    ):
        yield gz


def write_gz_text(dest: Path, text: str, level: int = TEXT_LEVEL) -> None:
    """Gzipped UTF-8 text."""
    with gz_stream(dest, level) as gz:
        gz.write(text.encode("utf-8"))
