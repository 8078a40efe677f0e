"""Atomic writes and checksums.

A reader must never see half a file: every artifact is written under a temporary name in
the destination directory and renamed into place, so a crash leaves the previous version.
Temporary files and folders (``.<name>.<random>.tmp``) are locked while they are written
(files with a POSIX record lock, which HDF5's own ``flock`` on the same file does not
conflict with; folders with ``flock``), so a later start can tell one a killed run left
behind (nobody holds its lock) from one a running process is still writing, and remove
only the former.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + TEMP_SUFFIX, dir=dest.parent)
    fcntl.lockf(fd, fcntl.LOCK_EX)  # held until the block ends: this temporary file is in use
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp creates 0600; give the file the mode a plain open() would
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    finally:
        os.close(fd)
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def temporary_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A locked temporary folder in ``parent`` (removed at the end, whatever happens): where a multi-file
    artifact is assembled before it is renamed into place."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=parent))
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield folder
    finally:
        os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


def remove_orphaned_temp_files(root: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    """Remove the temporary files and folders below ``root`` that no process holds: what killed runs left behind.

    A temporary being written is locked by its writer and stays; ``skip`` names top-level
    folders not to search (Dagster's own storage).
    """
    removed = []
    for path in sorted(Path(root).rglob(f".*{TEMP_SUFFIX}")):
        if path.relative_to(root).parts[0] in skip or not path.exists():
            continue
        folder = path.is_dir()
        try:
            fd = os.open(path, os.O_RDONLY if folder else os.O_RDWR)
        except OSError:
            continue
        try:
            (fcntl.flock if folder else fcntl.lockf)(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # locked: in use by a running process
        finally:
            os.close(fd)
        if folder:
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def atomic_write_bytes(dest: str | Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``dest`` atomically."""
    atomic_write_bytes(dest, text.encode("utf-8"))


def file_digest(path: str | Path, algorithm: str = "sha256", chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks so large GCTX files do not load into memory."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            h.update(block)
    return h.hexdigest()
