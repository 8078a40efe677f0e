"""Progress reports, wall-clock budgets and run profiles: the machinery every long asset shares."""

import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest
from pydantic import Field

from l1k_assets.asset_utils import progress_sink
from l1k_assets.paper_sources import Sourced
from l1k_assets.progress import Progress, format_seconds
from l1k_jobs.monitor import StepTiming
from l1k_jobs.resources_config import build_resources
from l1k_jobs.runner import materialize_all
from resources.profile import ProfiledConfig, ProfileError, RunProfile
from resources.tracking import MlflowTracking
from tests.conftest import PROJECT_ROOT, FakeClock


def test_progress_reports_first_step_then_at_most_every_interval_and_always_the_last() -> None:
    clock, reports = FakeClock(), []
    progress = Progress("mlp epoch", total=10, sink=reports.append, every_seconds=10, clock=clock)
    for step in range(1, 11):
        clock.now += 3.0
        progress.update(step, train_loss=1.0 / step)
    # steps at t = 3, 6, ..., 30 s: the first, then each one 10 s or more after the previous report, then the last
    assert [r.step for r in reports] == [1, 5, 9, 10]
    assert reports[1].elapsed == pytest.approx(15.0)
    assert reports[1].remaining == pytest.approx(15.0 / 5 * 5)  # 3 s a step, 5 steps to go
    assert reports[-1].remaining == pytest.approx(0.0)
    assert reports[1].values == {"train_loss": pytest.approx(0.2)}
    assert "mlp epoch 5/10" in reports[1].message() and "15s elapsed" in reports[1].message()


def test_budget_bounds_the_estimate_and_stops_the_loop_with_a_record() -> None:
    clock, reports = FakeClock(), []
    progress = Progress("gnn epoch", total=1000, sink=reports.append, every_seconds=0, budget_seconds=20, clock=clock)
    steps = 0
    while not progress.exhausted():
        clock.now += 3.0
        steps += 1
        report = progress.update(steps)
        assert report is not None and report.remaining == pytest.approx(max(20 - report.elapsed, 0.0))
    progress.stop_for_budget()
    assert steps == 7  # 21 s > 20 s after the seventh step
    assert progress.stopped_by_budget
    assert reports[-1].message() == "gnn epoch 7/1000 · 21s elapsed · stopped: time budget of 20s spent"


def test_child_progress_shares_the_sink_and_the_budget_left() -> None:
    clock, reports = FakeClock(), []
    folds = Progress("cv fold", total=3, sink=reports.append, every_seconds=0, budget_seconds=60, clock=clock)
    clock.now += 45
    epochs = folds.child("epoch", total=100)
    assert epochs.budget_left() == pytest.approx(15)
    epochs.update(1, val_scc=0.5)
    assert reports[-1].label == "cv fold · epoch"


@pytest.mark.parametrize("bad", [0, -5.0])
def test_progress_refuses_a_budget_that_is_not_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="budget_seconds must be positive"):
        Progress("x", budget_seconds=bad)


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (4.4, 75.2, 3900)] == ["4s", "1m15s", "1h05m"]


class Net(ProfiledConfig):
    epochs: int = 5
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {"epochs": Sourced(100, "test paper §1")}


class Training(ProfiledConfig):
    folds: int = 3
    hidden: int = 32
    time_budget_seconds: float | None = 60.0
    net: Net = Field(default_factory=Net)
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "folds": Sourced(10, "test paper §2"),
        "hidden": Sourced(1024, "test paper Table 1"),
        "time_budget_seconds": Sourced(None, "no budget"),
    }


def test_demo_keeps_the_defaults_and_scales_the_budget() -> None:
    applied = RunProfile(name="demo", budget_scale=2.0).apply(Training())
    assert (applied.folds, applied.hidden, applied.time_budget_seconds, applied.net.epochs) == (3, 32, 120.0, 5)


def test_paper_applies_the_seed_values_to_every_field_the_user_left_at_its_default() -> None:
    applied = RunProfile(name="paper").apply(Training(hidden=64, net=Net()))
    assert applied.folds == 10 and applied.time_budget_seconds is None and applied.net.epochs == 100
    assert applied.hidden == 64, "a value the user set wins over the profile"


def test_paper_overrides_name_the_setting_the_paper_value_and_the_value_used() -> None:
    applied = RunProfile(name="paper").apply(Training(hidden=64, net=Net(epochs=7)))
    assert RunProfile(name="paper").overrides(applied) == [
        {"setting": "hidden", "paper": 1024, "used": 64, "source": "test paper Table 1"},
        {"setting": "net.epochs", "paper": 100, "used": 7, "source": "test paper §1"},
    ]
    assert RunProfile(name="paper").overrides(RunProfile(name="paper").apply(Training())) == []
    assert RunProfile(name="demo").overrides(applied) == [], "a demo run departs from no paper"


def test_a_budget_the_user_sets_is_not_scaled() -> None:
    assert RunProfile(budget_scale=3.0).apply(Training(time_budget_seconds=7)).time_budget_seconds == 7


@pytest.mark.parametrize("bad", [0, -1.5])
def test_a_budget_of_zero_or_below_is_a_typed_error_naming_the_setting(bad: float) -> None:
    with pytest.raises(ProfileError, match=r"Training\.time_budget_seconds = .* expected a positive number of seconds"):
        RunProfile().apply(Training(time_budget_seconds=bad))


def test_unknown_profile_and_bad_scale_are_refused_when_resources_are_built() -> None:
    with pytest.raises(ProfileError, match=r"L1K_PROFILE = 'fast' is not allowed: expected one of demo, paper"):
        build_resources({"L1K_PROFILE": "fast"})
    with pytest.raises(ProfileError, match=r"L1K_BUDGET_SCALE = '0' is not allowed: expected a positive factor"):
        build_resources({"L1K_BUDGET_SCALE": "0"})
    assert build_resources({"L1K_PROFILE": "paper"})["profile"].describe() == {"profile": "paper", "budget_scale": 1.0}


@pytest.mark.parametrize(
    ("flag", "named"), [(["--profile", "fast"], "L1K_PROFILE"), (["--budget-scale", "-2"], "L1K_BUDGET_SCALE")]
)
def test_cli_refuses_a_bad_profile_before_any_asset_runs(tmp_path: Path, flag: list[str], named: str) -> None:
    command = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(tmp_path), "--scale", "tiny", "materialize", *flag]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and "expected" in done.stderr
    assert not (tmp_path / "mirror").exists() and not (tmp_path / "tables").exists(), "nothing may run"


class SlowSettings(ProfiledConfig):
    steps: int = 4
    time_budget_seconds: float | None = 30.0


@dg.asset
def slow_asset(context: dg.AssetExecutionContext, config: SlowSettings, profile: RunProfile, mlflow: MlflowTracking) -> str:
    """Reports every step (interval 0) to the Dagster log and MLflow, as a training loop does."""
    settings = profile.apply(config)
    with mlflow.start_run(context) as run:
        progress = Progress("epoch", total=settings.steps, sink=progress_sink(context, run), every_seconds=0)
        for step in range(1, settings.steps + 1):
            progress.update(step, train_loss=1.0 / step)
    return run.run_id


def test_materialize_all_shows_each_progress_report_and_times_each_step(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    lines: list[str] = []
    timings: list[StepTiming] = []
    tracking = MlflowTracking(home=str(tmp_path))
    resources = {"profile": RunProfile(), "mlflow": tracking, "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))}
    with dg.DagsterInstance.ephemeral() as instance:
        on_run = lambda o: timings.extend(o.steps)  # noqa: E731
        (outcome,) = materialize_all([slow_asset], resources, instance, on_run=on_run, emit=lines.append)
        # the Dagster log holds the same lines the UI shows
        logged = [e.user_message for e in instance.all_logs(outcome.run_id) if e.user_message.startswith("[progress]")]
    assert len(logged) == 4
    assert lines[0].startswith("▶ slow_asset")
    progress_lines = [line for line in lines if line.startswith("  … slow_asset")]
    assert len(progress_lines) == 4 and "epoch 4/4 · train_loss 0.25" in progress_lines[-1]
    assert lines[-1].startswith("✓ slow_asset")
    assert [t.step for t in timings] == ["slow_asset"] and timings[0].seconds >= 0
    assert timings[0].peak_rss_mb is None or timings[0].peak_rss_mb > 10
    client = MlflowClient(tracking.resolved_uri())
    (tracked,) = client.search_runs([tracking.prepare()], f"tags.`dagster.run_id` = '{outcome.run_id}'")
    mlflow_run_id = tracked.info.run_id
    history = client.get_metric_history(mlflow_run_id, "progress/epoch/train_loss")
    assert [(m.step, round(m.value, 3)) for m in history] == [(1, 1.0), (2, 0.5), (3, 0.333), (4, 0.25)]
