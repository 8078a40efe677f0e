"""Where l1k keeps everything it writes: one home directory, configurable, ignored by git."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "L1K_HOME"


def default_home() -> Path:
    """``$L1K_HOME`` if set, else ``.l1k_home`` in the current directory (the project root for the README commands)."""
    return Path(os.environ.get(HOME_ENV) or Path.cwd() / ".l1k_home").resolve()


def home_dir(home: str | None = None) -> Path:
    """Resolve a configured home (empty means the default) and make sure it exists."""
    path = Path(home).resolve() if home else default_home()
    path.mkdir(parents=True, exist_ok=True)
    return path
