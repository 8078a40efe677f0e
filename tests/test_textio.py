"""Every line-based parser bounds the length of a line: a gzip bomb of one huge line is a FormatError, not a crash."""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from l1k_assets.errors import FormatError
from l1k_assets.genesets.gmt import read_gmt
from l1k_assets.geo.series_matrix import parse_series_matrix
from l1k_assets.lincs.gct import read_gct
from l1k_assets.lincs.metadata import read_lincs_table, read_moa_table
from l1k_assets.sources.checksums import parse_checksum_list
from l1k_assets.textio import LINE_LIMIT_ENV, numbered_lines

LIMIT = 1 << 20


def _bomb(path: Path, first: bytes, line: int = 1) -> Path:
    """A small gzip whose line ``line`` expands to 64 MiB (64 times the limit set for the test)."""
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(b"header\tline\n" * (line - 1) + first)
        block = b"A" * (1 << 20)
        for _ in range(64):
            out.write(block)
        out.write(b"\n")
    return path


PARSERS: dict[str, tuple[Callable[[Path], object], bytes]] = {
    "series matrix": (parse_series_matrix, b"!Series_title\t"),
    "GMT": (read_gmt, b"SET\tdescription\t"),
    "GCT": (read_gct, b"#1.2\n"),
    "checksum list": (parse_checksum_list, b"ab  "),
    "LINCS table": (lambda p: read_lincs_table(p, "cell_info"), b"cell_id\t"),
    "Repurposing Hub table": (read_moa_table, b"!Source\t"),
}


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_a_gzip_bomb_line_is_a_format_error_read_in_bounded_memory(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LINE_LIMIT_ENV, str(LIMIT))
    parse, first = PARSERS[kind]
    line = 2 if first.endswith(b"\n") else 1
    path = _bomb(tmp_path / "bomb.gz", first.rstrip(b"\n") + b"\n" if line == 2 else first, line=1)
    assert path.stat().st_size < LIMIT
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=rf"bomb\.gz, line {line}: expected lines of at most {LIMIT} bytes"):
            parse(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * LIMIT  # the 64 MiB line was never held


def test_lines_keep_their_numbers_endings_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfa\r\nb\rc\n\n")
    assert list(numbered_lines(path)) == [(1, "a"), (2, "b"), (3, "c"), (4, "")]
    path.write_bytes(b"ok\nbad \xff here\n")
    with pytest.raises(FormatError, match="line 2: expected UTF-8 text"):
        list(numbered_lines(path))
    assert [line for _, line in numbered_lines(path, errors="replace")][1] == "bad \ufffd here"


def test_a_truncated_gzip_is_named_at_the_line_reading_stopped(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    data = gzip.compress(b"".join(f"line {i}\n".encode() for i in range(100_000)))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match=r"cut\.gz, line \d+: expected a complete gzip stream"):
        list(numbered_lines(path))
