"""Where each ``paper`` profile value comes from, so a reproduction can be checked line by line.

Every settings class that differs between the ``demo`` and ``paper`` profiles lists its paper
values in ``PAPER_SOURCES``: for each field, the value and the place it is stated (section,
table or figure of the seed; the authors' public code where the paper is silent, said so; or
l1k's own choice where neither gives one, said so too). The run profile swaps these values in,
``l1k profile`` prints them beside the demo defaults, and a run whose user set a field away from
its paper value says so on the asset page. A value and its source live in one entry, so they
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError


@dataclass(frozen=True)
class Sourced:
    """One paper setting: its value, where it is stated, and how l1k departs from it by default."""

    value: Any
    source: str
    note: str = ""


def paper_sources(settings: type[BaseModel] | BaseModel) -> Mapping[str, Sourced]:
    """The class's ``PAPER_SOURCES`` (empty for settings that do not differ by profile)."""
    cls = settings if isinstance(settings, type) else type(settings)
    return getattr(cls, "PAPER_SOURCES", {})


def paper_values(settings: type[BaseModel] | BaseModel) -> dict[str, Any]:
    """Field name → paper value: what a ``paper`` run profile swaps in for fields the user left alone."""
    return {name: entry.value for name, entry in paper_sources(settings).items()}


def nested_settings(settings: BaseModel, prefix: str = "") -> Iterator[tuple[str, BaseModel]]:
    """The settings object and every settings object nested in its fields, with dotted paths."""
    yield prefix, settings
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            yield from nested_settings(value, f"{prefix}{name}.")


def source_problems(settings: type[BaseModel]) -> list[str]:
    """What is wrong with a class's ``PAPER_SOURCES``: entries naming no setting, values its type refuses, no source."""
    problems = []
    for name, entry in paper_sources(settings).items():
        where = f"{settings.__name__}.PAPER_SOURCES[{name!r}]"
        field = settings.model_fields.get(name)
        if field is None:
            problems.append(f"{where} names no setting of {settings.__name__}")
            continue
        try:
            TypeAdapter(field.annotation).validate_python(entry.value, strict=True)
        except ValidationError as exc:
            problems.append(f"{where} = {entry.value!r} is not a valid {field.annotation}: {exc.errors()[0]['msg']}")
        if not entry.source.strip():
            problems.append(f"{where} has no source")
    return problems


def paper_overrides(settings: BaseModel) -> list[dict[str, Any]]:
    """Every sourced field whose value differs from the paper's, with the paper value and the value used.

    Applied to settings after a ``paper`` profile has swapped its values in, what is left differing
    was set by the user: the asset page warns about each one, so a run that departs from the paper
    is never presented as the paper's.
    """
    found = []
    for path, obj in nested_settings(settings):
        for name, entry in paper_sources(obj).items():
            used = getattr(obj, name)
            if used != entry.value:
                found.append({"setting": f"{path}{name}", "paper": entry.value, "used": used, "source": entry.source})
    return found


def profile_rows(settings: BaseModel, label: str) -> list[dict[str, Any]]:
    """One row per sourced field of ``settings`` (demo defaults) and its nested settings: the profile table."""
    rows = []
    for path, obj in nested_settings(settings):
        for name, entry in paper_sources(obj).items():
            rows.append(
                {
                    "setting": f"{label}.{path}{name}",
                    "demo": getattr(obj, name),
                    "paper": entry.value,
                    "source": entry.source + (f" — {entry.note}" if entry.note else ""),
                }
            )
    return rows


NO_BUDGET = Sourced(None, "l1k: the papers train to convergence, with no wall-clock limit")
SEED_001_DNN_WIDTHS = Sourced(
    [1024, 1024], "l1k's choice: seed 001 §2.2.2 gives Linear–Dropout–ReLU layers but no widths (the same in both uses)"
)
