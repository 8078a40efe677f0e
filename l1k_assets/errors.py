"""One error hierarchy for the whole platform.

Every failure a user can cause (a bad download, a malformed file, inconsistent content)
maps to one of three types so that callers, asset checks and the CLI can react by kind,
and every message names the file, the line or field, and what was expected.
"""

from __future__ import annotations

from pathlib import Path


class L1kError(Exception):
    """Base class of every error l1k raises on purpose."""


class SourceError(L1kError):
    """A download failed: unreachable server, HTTP error, truncated body, checksum mismatch."""

    def __init__(self, url: str, problem: str, status: int | None = None) -> None:
        self.url = url
        self.problem = problem
        self.status = status  # the HTTP status when the server answered (404: not published), else None
        super().__init__(f"{url}: {problem}")


class FormatError(L1kError):
    """A file does not follow its format: names the file, the line or field, and the expectation."""

    def __init__(
        self,
        path: str | Path,
        expected: str,
        *,
        line: int | None = None,
        field: str | None = None,
        found: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.expected = expected
        self.found = found
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        message = f"{where}: expected {expected}"
        if found is not None:
            message += f", found {found}"
        super().__init__(message)


class DataError(L1kError):
    """Well-formed input whose content cannot be used: unpaired samples, missing genes, one class."""


class EstimatorInputError(DataError, ValueError):
    """Arrays an l1k estimator cannot take: wrong shape, unpaired rows, non-finite or complex values, sparse input.

    A ``ValueError`` too, because scikit-learn's estimator contract (``clone``, pipelines,
    ``cross_val_score``, ``check_estimator``) expects one for bad input; the message names the
    array (``x``, ``y``, ``x_val``, ``y_val``) and what was expected of it.
    """
