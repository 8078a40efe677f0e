"""Read published checksum lists (GEO's ``GSExxx_SHA512SUMS.txt.gz``, md5sum-style files) and tables.

GEO publishes one SHA-512 list per series; verifying every large download against it is the
only way to know a multi-GB GCTX arrived intact, so the list itself is parsed strictly: a
line that is not ``<hex digest>  <file name>`` is an error rather than a silently skipped
file, and an empty list is refused because it would turn verification off without a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from l1k_assets.errors import FormatError
from l1k_assets.textio import numbered_lines

# md5, sha1, sha224, sha256, sha384, sha512 hex lengths
DIGEST_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})
LINE_FORMAT = "'<hex digest>  <file name>'"
TEXT_LABEL = "<checksum list text>"

# coreutils writes "<hex>  <name>" (text mode) or "<hex> *<name>" (binary mode); some tools
# write one space or a tab.
_LINE_RE = re.compile(r"^(?P<digest>[0-9A-Fa-f]+)(?: \*| {1,2}|\t)(?P<name>.*)$")


def parse_checksum_list(path_or_text: Path | str) -> dict[str, str]:
    """File name (basename) -> lower-case hex digest, from a checksum list.

    A ``Path`` is read from disk (gzip detected by its magic bytes, since GEO serves the list
    compressed); a ``str`` is the list's text itself. Entries are keyed by basename because
    some lists carry the submitter's folder in front of each name. Blank lines and ``#``
    comments are skipped; names with leading or trailing whitespace are not supported.
    """
    if isinstance(path_or_text, Path):
        label: str | Path = path_or_text
        text = _read_text(path_or_text)
    else:
        label, text = TEXT_LABEL, path_or_text
    digests: dict[str, str] = {}
    length = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, digest = _parse_line(label, number, line)
        length = length or len(digest)
        if len(digest) != length:
            raise FormatError(label, f"digests of one length ({length} hex digits)", line=number, found=_excerpt(line))
        if digests.setdefault(name, digest) != digest:
            raise FormatError(label, f"one digest per file name ({name!r} is listed twice)", line=number, found=_excerpt(line))
    if not digests:
        raise FormatError(label, f"at least one {LINE_FORMAT} line", found="no entries")
    return digests


def _read_text(path: Path) -> str:
    """The list's text (decompressed when gzip, lines bounded); unreadable bytes are a FormatError."""
    return "\n".join(line for _, line in numbered_lines(path))


def _parse_line(label: str | Path, number: int, line: str) -> tuple[str, str]:
    """(basename, digest) of one entry line."""
    match = _LINE_RE.match(line)
    name = match["name"].strip() if match else ""
    basename = name.rsplit("/", 1)[-1]
    if match is None or not basename or len(match["digest"]) not in DIGEST_LENGTHS:
        raise FormatError(label, LINE_FORMAT, line=number, found=_excerpt(line))
    return basename, match["digest"].lower()


def _excerpt(line: str, limit: int = 160) -> str:
    """A line as shown in an error: quoted so odd characters are visible, and cut when long."""
    return repr(line if len(line) <= limit else line[:limit] + "...")


TABLE_HEADER = "file,md5"


@dataclass(frozen=True)
class ChecksumTable:
    """MD5s a publisher lists on a web page rather than in a file (CLUE's download page), kept as a CSV.

    ``provenance`` holds the file's ``#`` lines, which say where and when the values were copied:
    a hand-copied table can be wrong or out of date, so the asset page shows where it came from.
    """

    path: Path
    digests: dict[str, str]
    provenance: list[str]


def read_checksum_table(path: str | Path) -> ChecksumTable:
    """A ``file,md5`` CSV with ``#`` provenance lines; a malformed line is a FormatError naming it.

    ``file`` is the path below the release folder (``level5/level5_beta_ctl_n58022x12328.gctx``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(path, "UTF-8 text", found=f"undecodable byte at offset {exc.start}") from exc
    digests: dict[str, str] = {}
    provenance: list[str] = []
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            provenance.append(line.lstrip("# ").rstrip())
            continue
        if not header_seen:
            if line != TABLE_HEADER:
                raise FormatError(path, f"the header line {TABLE_HEADER!r}", line=number, found=_excerpt(line))
            header_seen = True
            continue
        name, _, digest = line.partition(",")
        digest = digest.strip().lower()
        parts = name.strip().split("/")
        if not all(p and p not in (".", "..") for p in parts) or not re.fullmatch(r"[0-9a-f]{32}", digest):
            raise FormatError(
                path, "'<file path below the release folder>,<32 hex digit md5>'", line=number, found=_excerpt(line)
            )
        if digests.setdefault(name.strip(), digest) != digest:
            raise FormatError(path, f"one md5 per file ({name.strip()!r} is listed twice)", line=number, found=_excerpt(line))
    if not header_seen:
        raise FormatError(path, f"the header line {TABLE_HEADER!r}", found="no header")
    return ChecksumTable(path, digests, provenance)
