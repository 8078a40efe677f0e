"""Reading text files with bounded lines: plain or gzip, by content, never a whole line of unbounded size.

Every text format l1k reads (series matrices, SOFT, platform tables, GCT, GMT, checksum lists,
LINCS and Repurposing Hub tables) is line-based, and every reader goes through here. A
line longer than ``max_line_bytes`` (default 64 MiB, ``L1K_MAX_LINE_BYTES`` to change it,
far above the longest real line, a GCT row of ~10^5 values) is a FormatError naming the file
and line, raised before the line is held in memory: a 1.5 MiB gzip that expands to one
1.5 GiB header line costs one buffer, not 1.5 GiB. A truncated or corrupt gzip stream is a
FormatError at the line where reading stopped.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from l1k_assets.errors import FormatError

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 64 * 2**20
LINE_LIMIT_ENV = "L1K_MAX_LINE_BYTES"


def max_line_bytes() -> int:
    """The configured bound on a line's length in bytes (``L1K_MAX_LINE_BYTES``, else 64 MiB)."""
    value = os.environ.get(LINE_LIMIT_ENV, "")
    if not value:
        return DEFAULT_MAX_LINE_BYTES
    if not value.isdigit() or int(value) < 1024:
        raise ValueError(f"{LINE_LIMIT_ENV} must be a whole number of bytes, at least 1024, not {value!r}")
    return int(value)


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic (cached files need not end in .gz)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


class _BoundedReader(io.RawIOBase):
    """A binary stream that refuses a line longer than ``limit`` bytes, and reports gzip damage by line."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit = path, limit
        self.compressed = is_gzip(path)
        self._stream = gzip.open(path, "rb") if self.compressed else open(path, "rb")  # noqa: SIM115 (closed in close())
        self.line = 1  # the line being read
        self._since_newline = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._stream.read(len(buffer))
        except (EOFError, OSError, zlib.error) as exc:
            expected = "a complete gzip stream" if self.compressed else "a readable file"
            raise FormatError(self.path, expected, line=self.line, found=f"{type(exc).__name__}: {exc}") from None
        pieces = data.split(b"\n")  # the lines the chunk touches; the first continues the line being read
        lengths = [self._since_newline + len(pieces[0]), *(len(piece) for piece in pieces[1:])]
        too_long = next((i for i, n in enumerate(lengths) if n > self.limit), None)
        if too_long is not None:
            raise FormatError(
                self.path,
                f"lines of at most {self.limit} bytes ({LINE_LIMIT_ENV})",
                line=self.line + too_long,
                found="a longer line",
            )
        self._since_newline = lengths[-1]
        self.line += len(pieces) - 1
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def open_bounded(path: str | Path, limit: int | None = None) -> io.BufferedReader:
    """The file's (decompressed) bytes as a buffered stream whose lines are bounded (see the module docstring)."""
    return io.BufferedReader(_BoundedReader(Path(path), limit or max_line_bytes()), buffer_size=1 << 16)


def numbered_lines(
    path: str | Path, errors: Literal["strict", "replace"] = "strict", limit: int | None = None
) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line without its end-of-line)``; ``\n``, ``\r\n`` and ``\r`` all end a line,
    and a byte-order mark is dropped.

    ``errors="replace"`` keeps going past invalid UTF-8 (old GEO records carry Latin-1 in
    free-text fields that never feed a number or an id); ``strict`` makes it a FormatError at its line.
    """
    path = Path(path)
    number = 0
    with open_bounded(path, limit) as stream:
        for raw in stream:
            body = raw[len(BOM) :] if number == 0 and raw.startswith(BOM) else raw
            body = body.rstrip(b"\n")
            body = body[:-1] if body.endswith(b"\r") else body
            for piece in body.split(b"\r") if b"\r" in body else (body,):
                number += 1
                try:
                    yield number, piece.decode("utf-8", errors)
                except UnicodeDecodeError as exc:
                    found = f"undecodable byte {piece[exc.start : exc.start + 1]!r}"
                    raise FormatError(path, "UTF-8 text", line=number, found=found) from None
