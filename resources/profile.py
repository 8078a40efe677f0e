"""The run profile: ``demo`` (sized for a laptop-class CPU, the default) or ``paper`` (the seeds' settings).

Every training asset's ``Config`` carries the demo values as its defaults, so the launchpad
shows what a default run does, and lists the seed-faithful values, each with where it is stated,
in a ``PAPER_SOURCES`` class variable beside them (``l1k_assets.paper_sources``).
``RunProfile.apply(config)`` returns the settings a run uses: under ``paper`` the paper values
replace every default the user did not set explicitly (a value typed in the launchpad or run
config always wins). The profile's name goes into every checkpoint manifest, MLflow run and
asset page, so a demo model is never mistaken for a paper one. ``paper`` has no wall-clock
budgets and takes hours on a CPU: use it on a GPU.

Wall-clock budgets (``time_budget_seconds`` fields) bound each long loop under ``demo``;
``budget_scale`` stretches or shrinks all of them at once for a slower or faster machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import dagster as dg
from pydantic import BaseModel, Field

from l1k_assets.errors import L1kError
from l1k_assets.paper_sources import Sourced, paper_overrides, paper_values

PROFILE_NAMES = ("demo", "paper")
BUDGET_FIELD = "time_budget_seconds"


class ProfileError(L1kError):
    """A run-profile setting is not one of its allowed values (raised before any asset runs)."""

    def __init__(self, setting: str, value: Any, allowed: str) -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed
        super().__init__(f"{setting} = {value!r} is not allowed: expected {allowed}")


def check_profile_name(name: Any, setting: str = "profile") -> str:
    """The name if it is a known profile, else a ProfileError naming the setting and the allowed names."""
    if name not in PROFILE_NAMES:
        raise ProfileError(setting, name, f"one of {', '.join(PROFILE_NAMES)}")
    return str(name)


def check_positive(value: Any, setting: str, expected: str) -> float:
    """``value`` as a positive finite float, else a ProfileError naming the setting and ``expected``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ProfileError(setting, value, expected) from None
    if not (number > 0 and math.isfinite(number)):
        raise ProfileError(setting, value, expected)
    return number


def check_budget(value: Any, setting: str) -> float | None:
    """A wall-clock budget in seconds: ``None`` (no budget) or a positive finite number."""
    if value is None:
        return None
    return check_positive(value, setting, "a positive number of seconds, or none for no budget")


class ProfiledConfig(dg.Config):
    """Base of asset-only settings that differ by profile: ``PAPER_SOURCES`` lists the seed's values.

    Nested settings with their own ``PAPER_SOURCES`` get their own paper values applied.
    """

    PAPER_SOURCES: ClassVar[Mapping[str, Sourced]] = {}


class RunProfile(dg.ConfigurableResource):
    """Which profile training runs with, and how its wall-clock budgets are scaled."""

    name: str = Field("demo", description="demo (CPU-sized, default) or paper (the seeds' settings; use a GPU)")
    budget_scale: float = Field(1.0, description="multiplies every demo time budget (2.0 on a machine half as fast)")

    def validated(self) -> RunProfile:
        """Itself, after checking the name and scale (ProfileError naming the bad setting otherwise)."""
        check_profile_name(self.name)
        check_positive(self.budget_scale, "budget_scale", "a positive factor")
        return self

    def apply(self, config: BaseModel) -> Any:
        """The settings to run with: ``config`` with the profile's values for every field left at its default.

        Budgets are checked (positive or none) and scaled by ``budget_scale``.
        """
        self.validated()
        updates: dict[str, Any] = {}
        paper = paper_values(config) if self.name == "paper" else {}
        for name, value in paper.items():
            if name not in config.model_fields_set:
                updates[name] = value
        for name in type(config).model_fields:
            value = updates.get(name, getattr(config, name))
            if isinstance(value, BaseModel):
                updates[name] = self.apply(value)
        if BUDGET_FIELD in type(config).model_fields:
            setting = f"{type(config).__name__}.{BUDGET_FIELD}"
            budget = check_budget(updates.get(BUDGET_FIELD, getattr(config, BUDGET_FIELD)), setting)
            user_set = BUDGET_FIELD in config.model_fields_set
            updates[BUDGET_FIELD] = budget if budget is None or user_set else budget * self.budget_scale
        return config.model_copy(update=updates)

    def describe(self) -> dict[str, Any]:
        """What a checkpoint, an MLflow run and an asset page record of the profile."""
        return {"profile": self.name, "budget_scale": self.budget_scale}

    def overrides(self, settings: BaseModel) -> list[dict[str, Any]]:
        """Under ``paper``, the paper settings the user set to another value (setting, paper, used, source)."""
        return paper_overrides(settings) if self.name == "paper" else []
