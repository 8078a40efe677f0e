"""Query genes in CLUE's gene space: every name resolved, checked and accounted for.

CLUE scores a query only on genes it trusts: by default the BING space (the 978 measured
landmarks plus the best-inferred genes, 10,174 in GSE92742), optionally the landmarks alone.
People paste symbols, Entrez ids or Ensembl ids, in any case, with repeats and typos, so each
name is resolved to a release gene id (gene id, then exact symbol, then symbol ignoring case
when that names one gene, then Ensembl id) and gets one status:

* ``valid``: scored — in the chosen space and in the rank index;
* ``valid_not_used``: a gene of the release that is not scored — outside the space, absent
  from the index (a landmark-only index holds 978 genes), or a repeat on its side;
* ``invalid``: no gene of the release, or a name that fits several genes.

Every name appears once in the report, so what the score is based on is never a guess, and
a query that cannot be scored (an empty side, a gene in both sides, fewer than CLUE's 10
usable genes) fails with a typed error carrying that report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError

Space = Literal["bing", "landmark"]
Status = Literal["valid", "valid_not_used", "invalid"]
SPACES: tuple[str, ...] = get_args(Space)
SPACE_NAMES = {"bing": "BING", "landmark": "landmark"}
STATUSES: tuple[str, ...] = get_args(Status)
SIDES = ("up", "down")
MIN_GENES = 10  # CLUE refuses a side with fewer usable genes
REPORT_COLUMNS = ["side", "input", "gene_id", "gene_symbol", "status", "reason"]
# Where BING membership is read from, first match wins: GSE92742 gene_info, then LINCS 2020 geneinfo_beta.
BING_FLAGS = {
    "pr_is_bing": {"1": True, "0": False},
    "feature_space": {"landmark": True, "best inferred": True, "inferred": False},
}
NO_BING_COLUMN = "no pr_is_bing or feature_space column: every gene counts as BING"
LISTED = 20  # names spelled out in an error message; the attached report has them all


# ---------------------------------------------------------------- errors


class QueryGenesError(DataError):
    """A query's genes cannot be scored; ``report`` says what became of every name, ``sides`` which side failed."""

    def __init__(self, message: str, report: pd.DataFrame, sides: Sequence[str]) -> None:
        self.report = report
        self.sides = tuple(sides)
        super().__init__(message)


class EmptySideError(QueryGenesError):
    """The up or the down list names no gene at all."""


class GenesInBothSidesError(QueryGenesError):
    """A gene is asked to go up and down at once; ``genes`` are the gene ids on both sides."""

    def __init__(self, message: str, report: pd.DataFrame, genes: Sequence[str]) -> None:
        self.genes = list(genes)
        super().__init__(message, report, SIDES)


class NoUsableGenesError(QueryGenesError):
    """No name of a side is a scorable gene: all are invalid, outside the space or not indexed."""


class TooFewGenesError(QueryGenesError):
    """A side has some usable genes, but fewer than the query's minimum."""


# ---------------------------------------------------------------- the gene space


@dataclass(frozen=True)
class ResolvedQuery:
    """The gene ids to score (input order, each once) and the fate of every name given."""

    up: list[str]
    down: list[str]
    report: pd.DataFrame


@dataclass(frozen=True)
class _Lookup:
    """One way of naming genes: how a name is turned into a key, and which gene ids each key names."""

    what: str
    key: Callable[[str], str]
    genes: dict[str, list[str]]


@dataclass(frozen=True)
class _Row:
    """One input name as resolved, before repeats on its side are marked."""

    input: str
    gene_id: str | None
    status: Status
    reason: str | None


def _same(name: str) -> str:
    return name


def _ensembl_key(name: str) -> str:
    """Ensembl ids compared without case or version: ENSG00000141510.16 and ensg00000141510 are one gene."""
    return name.upper().split(".", 1)[0]


def _by_key(ids: pd.Series, names: pd.Series, key: Callable[[str], str]) -> dict[str, list[str]]:
    """Gene ids grouped by the key of their name; a key with several ids is ambiguous."""
    groups: dict[str, list[str]] = {}
    for gene_id, name in zip(ids, names, strict=True):
        if isinstance(name, str) and name.strip():
            groups.setdefault(key(name.strip()), []).append(gene_id)
    return groups


def _bing(genes: pd.DataFrame) -> tuple[str, pd.Series]:
    """Which genes are BING and where that came from; a table without a BING column counts every gene."""
    for column, flags in BING_FLAGS.items():
        if column not in genes.columns:
            continue
        text = genes[column].astype(str).str.strip()
        unknown = ~text.isin(list(flags))
        if unknown.any():
            at = unknown.to_numpy().argmax()
            raise DataError(
                f"gene table column {column} must be one of {sorted(flags)}; gene {genes.gene_id.iloc[at]} has "
                f"{genes[column].iloc[at]!r}"
            )
        chosen = " or ".join(value for value, bing in flags.items() if bing)
        return f"{column} = {chosen}", text.map(flags).astype(bool).set_axis(genes.index)
    return NO_BING_COLUMN, pd.Series(True, index=genes.index)


IndexSpace = Literal["full", "bing", "landmark"]


def index_space_genes(genes: pd.DataFrame, space: str) -> list[str] | None:
    """The gene ids a rank index of ``space`` holds (None: every gene of the matrix), in gene-table order.

    A landmark or BING index is a fraction of the full one's disk (978 or ~10,174 of 12,328
    genes), which is what makes LINCS 2020's 1.2 M signatures fit on a workstation.
    """
    if space == "full":
        return None
    if space not in SPACES:
        raise ValueError(f"index space must be one of full, {', '.join(SPACES)}, not {space!r}")
    chosen = genes.is_landmark.astype(bool) if space == "landmark" else _bing(genes)[1]
    return genes.gene_id[chosen.to_numpy()].astype(str).tolist()


class GeneSpace:
    """The genes a query on one release and rank index may use, and the lookups that resolve names to them.

    ``genes`` is a release's gene table from :func:`l1k_assets.lincs.metadata.read_gene_info`
    (``gene_id``, ``gene_symbol``, ``is_landmark`` and the original columns), ``index_gene_ids``
    the genes the rank index holds. Build it once per release and index; :meth:`resolve` is cheap.
    """

    def __init__(self, genes: pd.DataFrame, index_gene_ids: Iterable[str], space: Space = "bing") -> None:
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, not {space!r}")
        missing = [c for c in ("gene_id", "gene_symbol", "is_landmark") if c not in genes.columns]
        if missing:
            raise DataError(f"the gene table has no {', '.join(missing)} column: read it with read_gene_info")
        ids = genes.gene_id.astype(str).str.strip()
        self.space = space
        self.bing_source, bing = _bing(genes)
        landmark = genes.is_landmark.astype(bool)
        indexed = set(map(str, index_gene_ids))
        self.genes = pd.DataFrame(
            {
                "gene_symbol": genes.gene_symbol.to_numpy(),
                "in_space": (landmark if space == "landmark" else bing).to_numpy(),
                "indexed": ids.isin(indexed).to_numpy(),
            },
            index=pd.Index(ids, name="gene_id"),
        )
        self.n_indexed = len(indexed)
        self._outside = (
            "not a landmark gene (landmark space)" if space == "landmark" else f"outside the BING space ({self.bing_source})"
        )
        self._lookups = [
            _Lookup("gene id", _same, {gene_id: [gene_id] for gene_id in ids}),
            _Lookup("symbol", _same, _by_key(ids, genes.gene_symbol, _same)),
            _Lookup("symbol ignoring case", str.casefold, _by_key(ids, genes.gene_symbol, str.casefold)),
        ]
        kinds = "a gene id or symbol"
        if "ensembl_id" in genes.columns:
            self._lookups.append(_Lookup("Ensembl id", _ensembl_key, _by_key(ids, genes.ensembl_id, _ensembl_key)))
            kinds = "a gene id, symbol or Ensembl id"
        self._unknown = f"not {kinds} of this release"

    def describe(self) -> dict[str, object]:
        """What the space is, for a query's description: its name, where BING came from, and its sizes."""
        return {
            "space": self.space,
            "bing_source": self.bing_source,
            "genes_in_space": int(self.genes.in_space.sum()),
            "genes_in_index": self.n_indexed,
            "usable_genes": len(self.usable_ids()),
        }

    def _find(self, name: str) -> tuple[str | None, str | None]:
        """The gene id a name resolves to and a note on how (None for a plain id or symbol), or None and why not."""
        for lookup in self._lookups:
            found = lookup.genes.get(lookup.key(name))
            if found is None:
                continue
            if len(found) > 1:
                return None, f"ambiguous: the {lookup.what} of {len(found)} genes ({', '.join(found)})"
            note = None if lookup.what in ("gene id", "symbol") else f"matched by {lookup.what}"
            return found[0], note
        return None, self._unknown

    def _resolve_name(self, name: str) -> _Row:
        gene_id, note = self._find(name.strip())
        if gene_id is None:
            return _Row(name, None, "invalid", note)
        gene = self.genes.loc[gene_id]
        problems = []
        if not gene.in_space:
            problems.append(self._outside)
        if not gene.indexed:
            problems.append(f"not in the rank index ({self.n_indexed} genes)")
        status: Status = "valid_not_used" if problems else "valid"
        return _Row(name, gene_id, status, "; ".join(filter(None, [note, *problems])) or None)

    def _side(self, side: str, names: Sequence[str]) -> list[dict[str, object]]:
        """Report rows of one side in input order; a repeat (same gene, or same unknown name) is not used again."""
        first: dict[str, str] = {}
        rows = []
        for name in names:
            row = self._resolve_name(str(name))
            key = row.gene_id if row.gene_id is not None else row.input.strip()
            status, reason = row.status, row.reason
            if key in first:
                status = "valid_not_used" if status == "valid" else status
                reason = "; ".join(filter(None, [reason, f"repeats {first[key]!r} on this side: counted once"]))
            else:
                first[key] = row.input
            symbol = None if row.gene_id is None else self.genes.gene_symbol.loc[row.gene_id]
            rows.append(dict(zip(REPORT_COLUMNS, (side, row.input, row.gene_id, symbol, status, reason), strict=True)))
        return rows

    def usable_ids(self) -> list[str]:
        """Gene ids a query may score: in the space and in the index, in gene-table order."""
        usable = self.genes.in_space & self.genes.indexed
        return self.genes.index[usable].tolist()

    def report(self, up: Sequence[str], down: Sequence[str]) -> pd.DataFrame:
        """One row per name given (side, input, gene_id, gene_symbol, status, reason), up side first."""
        return pd.DataFrame(self._side("up", up) + self._side("down", down), columns=REPORT_COLUMNS)

    def resolve(self, up: Sequence[str], down: Sequence[str], min_genes: int = MIN_GENES) -> ResolvedQuery:
        """The gene ids to score for an up/down query; a query that cannot be scored raises a QueryGenesError."""
        if min_genes < 1:
            raise ValueError(f"min_genes must be at least 1, not {min_genes}")
        report = self.report(up, down)
        _check(report, min_genes, self.space)
        valid = report[report.status == "valid"]
        return ResolvedQuery(
            up=valid.gene_id[valid.side == "up"].tolist(), down=valid.gene_id[valid.side == "down"].tolist(), report=report
        )

    def resolve_set(self, names: Sequence[str], min_genes: int = MIN_GENES, side: str = "unsigned") -> ResolvedQuery:
        """The gene ids of one list without direction (an unsigned set, a signature's genes), as ``up``."""
        if min_genes < 1:
            raise ValueError(f"min_genes must be at least 1, not {min_genes}")
        report = pd.DataFrame(self._side(side, names), columns=REPORT_COLUMNS)
        _check(report, min_genes, self.space, (side,))
        return ResolvedQuery(up=report.gene_id[report.status == "valid"].tolist(), down=[], report=report)


# ---------------------------------------------------------------- checks and their messages


def _genes(n: int) -> str:
    return f"{n} gene" if n == 1 else f"{n} genes"


def _listing(rows: pd.DataFrame) -> str:
    """Report rows as indented 'input: reason' lines, cut after LISTED names."""
    lines = [f"\n  {r.input!r}: {r.reason}" for r in rows.head(LISTED).itertuples()]
    more = [f"\n  ... and {len(rows) - LISTED} more"] if len(rows) > LISTED else []
    return "".join(lines + more)


def _gene_names(report: pd.DataFrame, gene_ids: Sequence[str]) -> str:
    symbols = report.dropna(subset=["gene_id"]).drop_duplicates("gene_id").set_index("gene_id").gene_symbol
    more = f" and {len(gene_ids) - LISTED} more" if len(gene_ids) > LISTED else ""
    return ", ".join(f"{symbols.loc[g]} ({g})" for g in gene_ids[:LISTED]) + more


def _check(report: pd.DataFrame, min_genes: int, space: str, names: Sequence[str] = SIDES) -> None:
    """Raise the first problem that stops the query being scored, naming the sides and the genes at fault."""
    sides = {side: report[report.side == side] for side in names}
    empty = [side for side, rows in sides.items() if rows.empty]
    if empty:
        lists = "the up and the down gene lists are" if len(empty) == 2 else f"the {empty[0]} gene list is"
        raise EmptySideError(f"{lists} empty: a query needs genes on {'both sides' if len(names) == 2 else 'it'}", report, empty)
    resolved = {side: list(dict.fromkeys(rows.gene_id.dropna())) for side, rows in sides.items()}
    both = [g for g in resolved.get("up", []) if g in set(resolved.get("down", []))]
    if both:
        message = f"{_genes(len(both))} in both the up and the down list: {_gene_names(report, both)}"
        raise GenesInBothSidesError(message, report, both)
    usable = {side: int((rows.status == "valid").sum()) for side, rows in sides.items()}
    unused = {side: rows[rows.status != "valid"] for side, rows in sides.items()}
    none = [side for side in names if usable[side] == 0]
    if none:
        lines = [
            f"no name of the {side} list is a usable gene in the {SPACE_NAMES[space]} space:{_listing(unused[side])}"
            for side in none
        ]
        raise NoUsableGenesError("\n".join(lines), report, none)
    few = [side for side in names if usable[side] < min_genes]
    if few:
        lines = [
            f"the {side} list has {_genes(usable[side])} usable in the {SPACE_NAMES[space]} space, fewer than the "
            f"{min_genes} a query needs"
            + (f"; not usable:{_listing(unused[side])}" if len(unused[side]) else " (every name given is usable)")
            for side in few
        ]
        raise TooFewGenesError("\n".join(lines), report, few)


# ---------------------------------------------------------------- the report for a terminal


def format_report(report: pd.DataFrame, shown: int = LISTED) -> str:
    """Counts per side and status, then the first ``shown`` names not used and invalid (each with its gene and
    reason) and how many more: the report on a terminal stays a screen, the JSON output has every name."""
    lines = []
    for side in SIDES if set(report.side) <= set(SIDES) else report.side.unique():
        counts = report.status[report.side == side].value_counts()
        lines.append(f"{side + ':':<5} " + ", ".join(f"{int(counts.get(status, 0))} {status}" for status in STATUSES))
    listed = report[report.status != "valid"].groupby("status", sort=False, group_keys=False).head(shown)
    hidden = (report.status[report.status != "valid"].value_counts() - listed.status.value_counts()).to_dict()
    names = [repr(str(name)) for name in listed.input]
    genes = [f"{r.gene_symbol} ({r.gene_id})" if pd.notna(r.gene_id) else "-" for r in listed.itertuples()]
    name_width, gene_width = (max(map(len, texts), default=0) for texts in (names, genes))
    for status, title in (("valid_not_used", "not used"), ("invalid", "invalid")):
        at = np.flatnonzero((listed.status == status).to_numpy())
        if len(at):
            lines.append(f"{title}:")
        lines += [
            f"  {listed.side.iloc[i]:<4} {names[i]:<{name_width}}  {genes[i]:<{gene_width}}  {listed.reason.iloc[i]}" for i in at
        ]
        if hidden.get(status, 0) > 0:
            lines.append(f"  ... and {int(hidden[status])} more (--json lists every name)")
    return "\n".join(lines)
