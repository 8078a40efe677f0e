"""GEO SOFT files: GSE family, GSM, GPL platform and annotation, and GDS dataset records.

Some cohorts and every platform annotation are published only as SOFT, so the platform table
and a series-matrix equivalent must come from it. SOFT is a sequence of entities: a
``^KIND = accession`` line, ``!key = value`` attributes, ``#column = description`` lines and an
optional tab-separated table between ``!<kind>_table_begin`` and ``!<kind>_table_end``. One
reader handles all of them; ``soft_to_series_matrix`` then rebuilds the same ``SeriesMatrix`` the
series-matrix parser returns, so downstream code never knows which route a cohort took.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from l1k_assets.errors import FormatError
from l1k_assets.geo.series_matrix import (
    SeriesMatrix,
    build_samples,
    check_unique_ids,
    expression_frame,
    parse_values,
    split_characteristic,
)
from l1k_assets.textio import numbered_lines

TABLE_BEGIN_RE = re.compile(r"^!(\w+)_table_begin\s*$", re.IGNORECASE)
ENTITY_RE = re.compile(r"^\^(\w+)\s*(?:=\s*(.*?))?\s*$")
GSM_RE = re.compile(r"^GSM\d+$")
# GDS column descriptions: "#GSM11810 = Value for GSM11810: <sample title>; src: <source name>".
GDS_COLUMN_RE = re.compile(r"^Value for GSM\d+: (.*?)(?:; src: (.*))?$")


@dataclass
class SoftEntity:
    """One ``^KIND = accession`` block.

    ``attributes`` keys drop the ``<Kind>_`` prefix (``!Sample_title`` → ``title``,
    ``!subset_sample_id`` → ``sample_id``); ``columns`` holds the ``#`` column descriptions.
    ``table`` is all text (values are converted where their meaning is known), its columns are
    the header row (repeated names get ``.1``, ``.2`` suffixes) and its index is each row's line
    number in the file, so later checks can point at the offending line; ``table_line`` is the
    header row's line.
    """

    kind: str
    accession: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    table_line: int = 0


@dataclass
class SoftFile:
    """All entities of one SOFT file in file order (a repeated ``^KIND = accession`` continues its entity)."""

    path: Path
    entities: list[SoftEntity]

    def of_kind(self, kind: str) -> list[SoftEntity]:
        """Entities of one kind ("SAMPLE", "PLATFORM", ...), case-insensitive, in file order."""
        return [entity for entity in self.entities if entity.kind == kind.upper()]


def parse_soft(path: str | Path, *, until: Collection[str] = ()) -> SoftFile:
    """Parse a SOFT file, streaming.

    ``until`` names entity kinds after whose table reading stops: a platform family file
    carries every sample's table after the platform's, and the platform parser needs none of them.
    """
    path = Path(path)
    stop_kinds = {kind.upper() for kind in until}
    entities: dict[tuple[str, str], SoftEntity] = {}
    current: SoftEntity | None = None
    lines = numbered_lines(path, errors="replace")
    with contextlib.closing(lines):
        for number, line in lines:
            if not line.strip():
                continue
            if line.startswith("^"):
                kind, accession = _entity_header(line, path, number)
                current = entities.setdefault((kind, accession), SoftEntity(kind, accession))
            elif current is None:
                raise FormatError(
                    path, "a '^ENTITY = accession' line before any other content", line=number, found=repr(line[:60])
                )
            elif begin := TABLE_BEGIN_RE.match(line):
                if current.table is not None:
                    raise FormatError(path, f"one data table per {current.kind} {current.accession}", line=number)
                current.table_line, current.table = read_table(lines, path, f"!{begin[1]}_table_end")
                if current.kind in stop_kinds:
                    break
            elif line.startswith("!"):
                key, value = _assignment(line[1:])
                key = _drop_prefix(key, current.kind)
                current.attributes.setdefault(key, []).append(value)
            elif line.startswith("#"):
                key, value = _assignment(line[1:])
                current.columns[key] = value
            else:
                raise FormatError(path, "a '^', '!' or '#' line outside a data table", line=number, found=repr(line[:60]))
    if not entities:
        raise FormatError(path, "at least one '^ENTITY = accession' line", found="none")
    return SoftFile(path=path, entities=list(entities.values()))


def read_table(lines: Iterator[tuple[int, str]], path: Path, end_marker: str | None) -> tuple[int, pd.DataFrame]:
    """Read a header row and tab-separated rows up to ``end_marker`` (or end of file when it is None).

    Returns the header's line number and an all-text table indexed by line number. Rows must
    have exactly as many fields as the header: a short row means a truncated or hand-edited file.
    """
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    row_lines: list[int] = []
    for number, line in lines:
        if end_marker is not None and line.strip().lower() == end_marker.lower():
            break
        if not line:
            continue
        cells = line.split("\t")
        if header is None:
            header, header_line = cells, number
        elif len(cells) != len(header):
            raise FormatError(path, f"{len(header)} tab-separated fields", line=number, found=f"{len(cells)}")
        else:
            rows.append(cells)
            row_lines.append(number)
    else:
        if end_marker is not None:
            raise FormatError(path, f"a {end_marker} line", found="end of file")
    if header is None:
        raise FormatError(path, "a table header row", found="an empty table")
    columns = _unique_names([name.strip() for name in header])
    table = pd.DataFrame(rows, columns=columns, index=pd.Index(row_lines, dtype=np.int64, name="line"), dtype=str)
    return header_line, table


def soft_to_series_matrix(soft: SoftFile) -> SeriesMatrix:
    """The ``SeriesMatrix`` a GDS dataset table or a set of GSM sample tables amounts to."""
    datasets = [entity for entity in soft.of_kind("DATASET") if entity.table is not None]
    if datasets:
        return _from_dataset(soft, datasets[0])
    samples = soft.of_kind("SAMPLE")
    if samples:
        return _from_samples(soft, samples)
    kinds = sorted({entity.kind for entity in soft.entities})
    raise FormatError(soft.path, "a ^DATASET with a data table or ^SAMPLE entities", found=f"entities {kinds}")


def _entity_header(line: str, path: Path, number: int) -> tuple[str, str]:
    match = ENTITY_RE.match(line)
    if match is None:
        raise FormatError(path, "'^KIND = accession'", line=number, found=repr(line[:60]))
    return match[1].upper(), match[2] or ""


def _assignment(text: str) -> tuple[str, str]:
    """``"key = value"`` → ``("key", "value")``; only the first "=" separates (values contain "=")."""
    key, _, value = text.partition("=")
    return key.strip(), value.strip()


def _drop_prefix(key: str, kind: str) -> str:
    prefix = kind + "_"
    return key[len(prefix) :] if key.upper().startswith(prefix) else key


def _unique_names(names: list[str]) -> list[str]:
    """Suffix repeated column names (GEO annotation files repeat ``GO:Function``) so columns stay addressable."""
    seen: dict[str, int] = {}
    unique: list[str] = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}.{count}")
    return unique


def _require_table(soft: SoftFile, entity: SoftEntity, columns: list[str]) -> pd.DataFrame:
    if entity.table is None:
        raise FormatError(soft.path, f"a data table in {entity.kind} {entity.accession}", found="none")
    absent = [column for column in columns if column not in entity.table.columns]
    if absent:
        raise FormatError(
            soft.path,
            f"columns {columns} in the {entity.kind} {entity.accession} table",
            line=entity.table_line,
            found=f"columns {list(entity.table.columns)}",
        )
    return entity.table


def _values(soft: SoftFile, table: pd.DataFrame, id_column: str, value_columns: list[str]) -> tuple[pd.Index, np.ndarray]:
    """Unique probe ids and float values of a SOFT table, errors located by the table's line index."""
    lines = table.index.to_list()
    probes = check_unique_ids(table[id_column].str.strip().to_list(), soft.path, lines, "probe id")
    values = parse_values(table[value_columns].to_numpy(dtype=str), soft.path, lines, value_columns)
    return probes, values


def _from_samples(soft: SoftFile, samples: list[SoftEntity]) -> SeriesMatrix:
    """GSE family (or single GSM) SOFT: each sample's VALUE column, joined on ID_REF."""
    columns: list[pd.Series] = []
    for entity in samples:
        table = _require_table(soft, entity, ["ID_REF", "VALUE"])
        probes, values = _values(soft, table, "ID_REF", ["VALUE"])
        columns.append(pd.Series(values[:, 0], index=probes, name=entity.accession))
    expression = pd.concat(columns, axis=1, sort=False)
    gsms = [entity.accession for entity in samples]
    fields = {
        key: ["; ".join(entity.attributes.get(key, [])) for entity in samples]
        for key in ("title", "source_name_ch1", "platform_id")
        if any(key in entity.attributes for entity in samples)
    }
    fields["geo_accession"] = gsms
    characteristics = [
        [split_characteristic(cell) for cell in entity.attributes.get("characteristics_ch1", []) if cell.strip()]
        for entity in samples
    ]
    series = soft.of_kind("SERIES")
    return SeriesMatrix(
        path=soft.path,
        series=dict(series[0].attributes) if series else {},
        samples=build_samples(gsms, fields, characteristics),
        expression=expression_frame(expression.to_numpy(dtype=np.float64), expression.index, gsms),
    )


def _from_dataset(soft: SoftFile, dataset: SoftEntity) -> SeriesMatrix:
    """GDS SOFT: the dataset table's GSM columns; each subset type becomes a characteristics column."""
    table = _require_table(soft, dataset, ["ID_REF"])
    gsms = [column for column in table.columns if GSM_RE.match(column)]
    if not gsms:
        raise FormatError(
            soft.path, "GSM sample columns in the dataset table", line=dataset.table_line, found=f"{list(table.columns)}"
        )
    probes, values = _values(soft, table, "ID_REF", gsms)
    described = [GDS_COLUMN_RE.match(dataset.columns.get(gsm, "")) for gsm in gsms]
    fields = {
        "title": [match[1] if match else "" for match in described],
        "geo_accession": gsms,
        "source_name_ch1": [(match[2] or "") if match else "" for match in described],
        "platform_id": ["; ".join(dataset.attributes.get("platform", []))] * len(gsms),
    }
    return SeriesMatrix(
        path=soft.path,
        series=dict(dataset.attributes),
        samples=build_samples(gsms, fields, _subset_characteristics(soft, gsms)),
        expression=expression_frame(values, probes, gsms),
    )


def _subset_characteristics(soft: SoftFile, gsms: list[str]) -> list[list[tuple[str, str]]]:
    """Per sample, ``(subset type, subset description)`` for every GDS subset that lists it."""
    position = {gsm: i for i, gsm in enumerate(gsms)}
    characteristics: list[list[tuple[str, str]]] = [[] for _ in gsms]
    for subset in soft.of_kind("SUBSET"):
        kind = " ".join(subset.attributes.get("type", [])).strip().lower() or "subset"
        description = "; ".join(subset.attributes.get("description", []))
        members = [
            gsm.strip() for gsm in itertools.chain.from_iterable(v.split(",") for v in subset.attributes.get("sample_id", []))
        ]
        unknown = [gsm for gsm in members if gsm not in position]
        if unknown:
            raise FormatError(
                soft.path,
                "subset samples that are columns of the dataset table",
                field=f"SUBSET {subset.accession}",
                found=f"{unknown}",
            )
        for gsm in members:
            characteristics[position[gsm]].append((kind, description))
    return characteristics
