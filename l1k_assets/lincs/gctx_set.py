"""One logical genes × profiles matrix stored as one or more GCTX files.

GEO's releases ship each level as one file; LINCS 2020 ships one file per perturbagen type
(``level5_beta_trt_cp_n720216x12328.gctx``, ``level5_beta_trt_sh_...``, ``..._ctl_...``), and a
user may keep only some of them. Every reader of a level (scoring, indexing, pairing,
deriving) goes through this class, so a release of one file and a release of six are read
the same way: rows must be the same genes in every file, a column id may live in one file
only, and streaming goes file by file, a chunk at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from l1k_assets.errors import DataError, FormatError
from l1k_assets.lincs.gctx import gctx_shape, iter_gctx_columns, read_gctx, read_gctx_ids

# LINCS matrix names carry their shape as ..._n<columns>x<rows>[_date].gctx
NAMED_SHAPE = re.compile(r"_n(?P<columns>\d+)x(?P<rows>\d+)(?=[._])")


def check_named_shape(path: Path) -> None:
    """A file whose name states its dimensions must have them: a mismatch means a truncated or mislabelled file."""
    match = NAMED_SHAPE.search(path.name)
    if match is None:
        return
    rows, columns = gctx_shape(path)
    named = (int(match["columns"]), int(match["rows"]))
    if named != (columns, rows):
        raise FormatError(
            path,
            f"the {named[0]} columns × {named[1]} rows its name states",
            field="/0/DATA/0/matrix",
            found=f"{columns} × {rows}",
        )


@dataclass(frozen=True)
class GctxSet:
    """GCTX files read as one matrix: the same row ids in each, column ids split between them."""

    paths: tuple[Path, ...]

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> GctxSet:
        """The matrix a ``core_lincs_level3``/``core_lincs_level5`` table describes (one row per file, column ``path``)."""
        return cls.of(table["path"].tolist())

    @classmethod
    def of(cls, paths: Iterable[str | Path]) -> GctxSet:
        """A set of one or more existing files, in the order given (the order columns are streamed in)."""
        resolved = tuple(Path(p) for p in paths)
        if not resolved:
            raise DataError("a matrix needs at least one GCTX file")
        return cls(resolved)

    def row_ids(self) -> list[str]:
        """The genes, in the first file's order; every other file must hold exactly the same ids."""
        first = read_gctx_ids(self.paths[0], "row")
        wanted = set(first)
        for path in self.paths[1:]:
            rows = read_gctx_ids(path, "row")
            if set(rows) != wanted:
                extra, lacking = sorted(set(rows) - wanted), sorted(wanted - set(rows))
                raise DataError(
                    f"{path}: row ids differ from {self.paths[0].name}'s "
                    f"({len(extra)} extra, e.g. {extra[:3]}; {len(lacking)} missing, e.g. {lacking[:3]})"
                )
        return first

    def columns_by_file(self) -> list[tuple[Path, list[str]]]:
        """Each file with its column ids; an id in two files is an error (it would be scored twice)."""
        parts = [(path, read_gctx_ids(path, "col")) for path in self.paths]
        seen: dict[str, Path] = {}
        for path, ids in parts:
            for cid in ids:
                if seen.setdefault(cid, path) is not path:
                    raise DataError(f"column {cid!r} is in both {seen[cid].name} and {path.name}")
        return parts

    def col_ids(self) -> list[str]:
        """Every column id, file after file."""
        return [cid for _, ids in self.columns_by_file() for cid in ids]

    def n_chunks(self, chunk_size: int) -> int:
        """How many blocks :meth:`iter_columns` yields for ``chunk_size`` (a progress total)."""
        return sum(-(-len(ids) // chunk_size) for _, ids in self.columns_by_file())

    def iter_columns(
        self, chunk_size: int | None, rids: Iterable[object] | None = None, cids: Iterable[object] | None = None
    ) -> Iterator[pd.DataFrame]:
        """Genes × columns blocks, file by file (within a file in ``cids`` order, or file order); memory is one block."""
        rows = None if rids is None else [str(r) for r in rids]
        wanted = None if cids is None else pd.Index([str(c) for c in cids])
        for path, ids in self.columns_by_file():
            if wanted is None:
                yield from iter_gctx_columns(path, chunk_size, rids=rows)
                continue
            mine = wanted[wanted.isin(ids)]
            if len(mine):
                yield from iter_gctx_columns(path, chunk_size, rids=rows, cids=mine)

    def read(self, cids: Sequence[object], rids: Iterable[object] | None = None) -> pd.DataFrame:
        """Genes × the requested columns, in the order requested, from whichever files hold them."""
        wanted = pd.Index([str(c) for c in cids])
        rows = None if rids is None else [str(r) for r in rids]
        blocks, found = [], set()
        for path, ids in self.columns_by_file():
            mine = wanted[wanted.isin(ids)]
            if len(mine):
                blocks.append(read_gctx(path, rids=rows, cids=mine, meta=False).data)
                found.update(mine)
        unknown = [c for c in wanted if c not in found]
        if unknown:
            raise DataError(f"{len(unknown)} requested columns are in none of {[p.name for p in self.paths]}, e.g. {unknown[:5]}")
        if not blocks:
            return pd.DataFrame(index=pd.Index(rows or self.row_ids(), dtype="str"))
        first = blocks[0].index
        return pd.concat([b.reindex(first) for b in blocks], axis=1)[wanted]


def as_matrix(source: str | Path | GctxSet) -> GctxSet:
    """A set as given, or the one-file set of a path (what a notebook user passes for a single GCTX)."""
    return source if isinstance(source, GctxSet) else GctxSet.of([source])
