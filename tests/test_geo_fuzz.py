"""Property tests: generated series matrices round-trip exactly; mutated GEO files fail only with our error types."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l1k_assets.errors import DataError, FormatError
from l1k_assets.geo.platform import parse_platform_table
from l1k_assets.geo.series_matrix import parse_series_matrix
from l1k_assets.geo.soft import parse_soft, soft_to_series_matrix
from tests.test_geo_parsers import FAMILY_SOFT, GDS_SOFT, RAW_MATRIX

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Free text as GEO submitters write it, minus what the formats themselves reserve
# (tabs, line breaks, the series matrix's double quotes) and control characters.
TEXT = st.characters(exclude_characters='\t\n\r"', exclude_categories=("Cs", "Cc"))
KEY = st.text(st.characters(exclude_characters='\t\n\r":', exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)
PROBE = st.text("abcXYZ0123456789_-./", min_size=1, max_size=10)
VALUE = st.none() | st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def series_data(draw: st.DrawFn) -> dict:
    """A random series: samples, characteristics lines with holes, probes and values with missing cells."""
    n = draw(st.integers(1, 4))
    probes = draw(st.lists(PROBE, max_size=6, unique=True))
    return {
        "gsms": [f"GSM{100 + i}" for i in range(n)],
        "series_title": draw(st.text(TEXT, max_size=12).filter(lambda t: t == t.strip())),
        "titles": draw(st.lists(st.text(TEXT, max_size=12), min_size=n, max_size=n)),
        "characteristics": draw(
            st.lists(
                st.lists(st.none() | st.tuples(KEY.filter(str.strip), st.text(TEXT, max_size=10)), min_size=n, max_size=n),
                max_size=3,
            )
        ),
        "probes": probes,
        "values": draw(st.lists(st.lists(VALUE, min_size=n, max_size=n), min_size=len(probes), max_size=len(probes))),
        "missing": draw(st.sampled_from(["", "null"])),
    }


def matrix_text(data: dict) -> str:
    def row(key: str, cells: list[str]) -> str:
        return "\t".join([key, *(f'"{cell}"' for cell in cells)])

    lines = [row("!Series_title", [data["series_title"]]), row("!Sample_title", data["titles"])]
    lines.append(row("!Sample_geo_accession", data["gsms"]))
    for line in data["characteristics"]:
        lines.append(row("!Sample_characteristics_ch1", [f"{c[0]}: {c[1]}" if c else "" for c in line]))
    lines += ["!series_matrix_table_begin", row("ID_REF", data["gsms"]).replace("ID_REF", '"ID_REF"', 1)]
    for probe, values in zip(data["probes"], data["values"], strict=True):
        lines.append("\t".join([f'"{probe}"', *(data["missing"] if v is None else repr(v) for v in values)]))
    return "\n".join([*lines, "!series_matrix_table_end", ""])


def family_soft_text(data: dict) -> str:
    lines = ["^SERIES = GSE1", f"!Series_title = {data['series_title']}"]
    for i, gsm in enumerate(data["gsms"]):
        lines += [f"^SAMPLE = {gsm}", f"!Sample_title = {data['titles'][i]}"]
        lines += [f"!Sample_characteristics_ch1 = {line[i][0]}: {line[i][1]}" for line in data["characteristics"] if line[i]]
        lines += ["!sample_table_begin", "ID_REF\tVALUE"]
        lines += [
            f"{p}\t{data['missing'] if v[i] is None else repr(v[i])}" for p, v in zip(data["probes"], data["values"], strict=True)
        ]
        lines.append("!sample_table_end")
    return "\n".join([*lines, ""])


def expected_samples(data: dict) -> pd.DataFrame:
    columns: dict[str, dict[str, str]] = {}
    for line in data["characteristics"]:
        for gsm, cell in zip(data["gsms"], line, strict=True):
            if cell is None:
                continue
            key, value = cell[0].strip().lower(), cell[1].strip()
            column = columns.setdefault(f"characteristics:{key}", {})
            column[gsm] = f"{column[gsm]}; {value}" if gsm in column else value
    table = pd.DataFrame(
        {"title": [t.strip() for t in data["titles"]], "geo_accession": data["gsms"]},
        index=pd.Index(data["gsms"], dtype=str, name="gsm"),
        dtype=str,
    )
    for name, cells in columns.items():
        table[name] = pd.Series(cells, dtype=str).reindex(table.index)
    return table


def expected_expression(data: dict) -> pd.DataFrame:
    values = np.array([[np.nan if v is None else v for v in row] for row in data["values"]], dtype=np.float64)
    return pd.DataFrame(
        values.reshape(len(data["probes"]), len(data["gsms"])),
        index=pd.Index(data["probes"], dtype=str, name="probe_id"),
        columns=pd.Index(data["gsms"], dtype=str, name="gsm"),
    )


@FUZZ
@given(data=series_data(), compress=st.booleans(), newline=st.sampled_from(["\n", "\r\n"]))
def test_series_matrix_round_trip(tmp_path: Path, data: dict, compress: bool, newline: str) -> None:
    raw = matrix_text(data).replace("\n", newline).encode()
    path = tmp_path / "GSE1_series_matrix.txt"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    sm = parse_series_matrix(path)
    assert sm.series["title"] == [data["series_title"]]
    pd.testing.assert_frame_equal(sm.samples, expected_samples(data), check_like=True)
    pd.testing.assert_frame_equal(sm.expression, expected_expression(data))


@FUZZ
@given(data=series_data())
def test_family_soft_matches_series_matrix(tmp_path: Path, data: dict) -> None:
    (tmp_path / "family.soft").write_text(family_soft_text(data))
    sm = soft_to_series_matrix(parse_soft(tmp_path / "family.soft"))
    assert sm.series["title"] == [data["series_title"]]
    pd.testing.assert_frame_equal(sm.samples, expected_samples(data), check_like=True)
    pd.testing.assert_frame_equal(sm.expression, expected_expression(data))


# --- mutations: anything but FormatError / DataError is a bug ---------------------------------


@st.composite
def mutated(draw: st.DrawFn, text: str) -> bytes:
    """Line edits (delete, duplicate, swap, garble a field), optional gzip, then byte edits (flip, insert, cut)."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "garble"]))
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "garble":
            fields = lines[i].split("\t")
            fields[j % len(fields)] = draw(st.text(st.characters(codec="utf-8"), max_size=6))
            lines[i] = "\t".join(fields)
    blob = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        blob = gzip.compress(blob)
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["flip", "insert", "cut"]))
        at = draw(st.integers(0, max(len(blob) - 1, 0)))
        if op == "flip" and blob:
            blob = blob[:at] + bytes([draw(st.integers(0, 255))]) + blob[at + 1 :]
        elif op == "insert":
            blob = blob[:at] + draw(st.binary(min_size=1, max_size=4)) + blob[at:]
        elif op == "cut":
            blob = blob[:at]
    return blob


def only_our_errors(path: Path, blob: bytes, parse: Callable[[Path], object]) -> None:
    path.write_bytes(blob)
    with contextlib.suppress(FormatError, DataError):
        parse(path)


PLATFORM_SOFT = (
    "^PLATFORM = GPL1\n!Platform_title = t\n#ID = id\n!platform_table_begin\n"
    "ID\tGene Symbol\n1_at\tA\n2_at\tB /// C\n3_at\t---\n!platform_table_end\n"
)
PLATFORM_PLAIN = "# ID = id\nID\tGENE_SYMBOL\tX\nA_1\tTP53\t1\nA_2\t\t2\n"


@FUZZ
@given(blob=mutated(RAW_MATRIX))
def test_mutated_series_matrix(tmp_path: Path, blob: bytes) -> None:
    only_our_errors(tmp_path / "m.txt", blob, parse_series_matrix)


@FUZZ
@given(blob=mutated(FAMILY_SOFT) | mutated(GDS_SOFT))
def test_mutated_soft(tmp_path: Path, blob: bytes) -> None:
    only_our_errors(tmp_path / "f.soft", blob, lambda path: soft_to_series_matrix(parse_soft(path)))


@FUZZ
@given(blob=mutated(PLATFORM_SOFT) | mutated(PLATFORM_PLAIN) | mutated(FAMILY_SOFT))
def test_mutated_platform_table(tmp_path: Path, blob: bytes) -> None:
    only_our_errors(tmp_path / "gpl.txt", blob, parse_platform_table)
