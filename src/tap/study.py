"""`tap study`: world -> rollouts -> features -> labels -> loop -> evaluate -> fit -> report, in one run folder.

The loop stage runs when `loop.in_study` is true (the default); it needs nothing from evaluate or fit,
so it comes first and a change to the evaluation does not rerun it.

Each stage records what it ran with in `study.json` (a key over the config sections it depends on,
its wall seconds and when it finished). A rerun skips every stage whose key is unchanged and whose
outputs exist; a changed config reruns that stage and everything after it. The label stage is
itself resumable unit by unit (the ledger), so a killed study continues where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tap.config import TapConfig, load_config
from tap.stages import STAGES, stage_keys, stage_outputs
from tap.store import RunPaths, write_json

# --quick: a few-minute study (used by a test) on the same tiny world and policy.
QUICK = [
    "world.cohorts.count=16",
    "label.seeds=2",
    "label.steps=6",
    "loop.seeds=2",
    "loop.steps=2",
    "loop.candidates=4",
    "loop.train_steps=2",
    "evaluate.bootstrap=200",
    "evaluate.random_draws=50",
    "evaluate.repeats=3",
]


def study_config(path: str | Path | None = None, overrides: list[str] | None = None, *, quick: bool = False,
                 run_dir: str | Path | None = None) -> TapConfig:
    """The study's config: a file, else the run folder's config.toml when it has one (a rerun keeps
    the run's settings), else the defaults; then --quick's settings, then the user's --set."""
    if path is None and run_dir is not None and RunPaths(Path(run_dir)).config.exists():
        path = RunPaths(Path(run_dir)).config
    return load_config(path, (QUICK if quick else []) + list(overrides or []))


@dataclass
class StageRecord:
    name: str
    status: str  # "ran" or "reused"
    seconds: float
    detail: str = ""


@dataclass
class StudyResult:
    run_dir: Path
    stages: list[StageRecord] = field(default_factory=list)
    metrics: dict | None = None

    @property
    def nothing_to_do(self) -> bool:
        return all(s.status in ("reused", "off") for s in self.stages)


def read_record(run_dir: Path) -> dict:
    path = Path(run_dir) / "study.json"
    return json.loads(path.read_text()) if path.exists() else {"stages": {}}


def run_study(
    run_dir: str | Path,
    config: TapConfig,
    *,
    home: Path | None = None,
    workers: int | None = None,
    on_stage: Callable[[str, str], None] | None = None,
    progress: Callable[[str], Callable] | None = None,
    until: str | None = None,
) -> StudyResult:
    """Run (or resume) every stage, or those up to and including `until` (e.g. "labels": a battery to
    evaluate elsewhere). `on_stage(name, "start" | "skip")` announces a stage; `progress(name)` returns
    the progress callback that stage's API function takes (or None)."""
    if until is not None and until not in STAGES:
        from tap.errors import TapInputError

        raise TapInputError(f"no stage {until!r}: the stages are {', '.join(STAGES)}")
    from tap import api
    from tap.api.runs import save_run_config

    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    save_run_config(run_dir, config)  # a rerun, or a command on this folder, starts from what this study runs with
    keys = stage_keys(config)
    record = read_record(run_dir)
    outputs = stage_outputs(paths)
    result = StudyResult(run_dir)
    stale = False
    study = config.study
    callback = progress or (lambda name: None)

    actions: dict[str, Callable[[], str]] = {
        "world": lambda: _world(api, config, home, run_dir, callback("world")),
        "rollouts": lambda: _rollouts(api, config, home, paths, callback("rollouts")),
        "features": lambda: _features(api, config, home, paths, set(study.families)),
        "labels": lambda: _labels(
            api, config, home, run_dir, workers or study.workers, study.executor, callback("labels")
        ),
        "evaluate": lambda: _evaluate(api, config, home, run_dir, callback("evaluate")),
        "fit": lambda: _fit(api, config, home, run_dir),
        "loop": lambda: _loop(api, config, home, run_dir, callback("loop")),
        "report": lambda: _report(run_dir),
    }
    last = STAGES.index(until) if until else len(STAGES) - 1
    for stage in STAGES[: last + 1]:
        if stage == "loop" and (not config.loop.in_study or config.data.is_dataset):
            why = ("the loop draws candidates from the tiny world's vendors" if config.data.is_dataset
                   else "loop.in_study = false (run `tap loop` on its own)")
            result.stages.append(StageRecord(stage, "off", 0.0, why))
            continue
        previous = record["stages"].get(stage, {})
        done = (
            previous.get("key") == keys[stage] and previous.get("finished") and all(p.exists() for p in outputs[stage])
        )
        if done and not stale:
            result.stages.append(StageRecord(stage, "reused", previous.get("seconds", 0.0), previous.get("detail", "")))
            if on_stage:
                on_stage(stage, "skip")
            continue
        stale = True  # everything after a stage that runs is rerun too
        if on_stage:
            on_stage(stage, "start")
        started = time.perf_counter()
        detail = actions[stage]()
        seconds = time.perf_counter() - started
        record["stages"][stage] = {
            "key": keys[stage],
            "seconds": seconds,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "detail": detail,
        }
        write_json(record, run_dir / "study.json")
        result.stages.append(StageRecord(stage, "ran", seconds, detail))
    if paths.metrics.exists() and "evaluate" in STAGES[: last + 1]:
        result.metrics = json.loads(paths.metrics.read_text())
    return result


def _world(api, config, home, run_dir, progress) -> str:
    if config.data.is_dataset:
        items, cohorts = api.dataset(config, run_dir)
        return (f"{config.data.described}: {cohorts.cohort_id.nunique()} cohorts of {config.data.cohort_size}, "
                f"probe of {int((items.split == 'probe').sum())} items")
    built = api.world(config, home=home, out=run_dir, progress=progress)
    info = built.pretrain
    state = {"cache": "reused the cached policy", "shipped": "the policy TAP ships"}.get(
        built.policy_source, f"pretrained the policy: {info['steps']} steps in {info['seconds']:.0f} s")
    return f"{built.cohorts.cohort_id.nunique()} cohorts; {state}"


def _rollouts(api, config, home, paths, progress) -> str:
    table = api.rollout(paths.cohorts, paths.rollouts, config=config, home=home, progress=progress)
    return f"{len(table)} completions, mean reward {table.reward.mean():.3f}"


def _features(api, config, home, paths, families) -> str:
    table = api.features(paths.rollouts, paths.features, families=families, config=config, home=home)
    return f"{len(table)} cohorts, families {'+'.join(sorted(families, key='RFG'.index))}"


def _labels(api, config, home, run_dir, workers, executor, progress) -> str:
    if config.study.active_labels:
        picked = api.label_active(run_dir, config.study.active_labels, upto=True, config=config, workers=workers,
                                  executor=executor, home=home, progress=progress)
        if picked["failed"]:
            from tap.errors import TapInputError

            raise TapInputError(
                f"{run_dir}: {picked['failed']} label runs failed (see labels.sqlite); rerun `tap study` to retry them"
            )
        return (
            f"active labeling: {len(picked['labelled'])} cohorts chosen and labelled ({picked['label_runs']} label "
            "runs), "
            f"{picked['labelled_before']} labelled before"
        )
    result = api.label(run_dir, config=config, workers=workers, executor=executor, home=home, progress=progress)
    if result.failed:
        from tap.errors import TapInputError

        raise TapInputError(
            f"{run_dir}: {result.failed} label runs failed (see labels.sqlite); rerun `tap study` to retry them"
        )
    return f"{result.succeeded} label runs, {result.skipped} already in the ledger"


def _evaluate(api, config, home, run_dir, progress) -> str:
    metrics = api.evaluate(run_dir, config=config, home=home, progress=progress)
    return f"{len(metrics['scorers'])} scorers in {metrics['evaluation_seconds']:.0f} s"


def _fit(api, config, home, run_dir) -> str:
    _, target, meta = api.fit(run_dir, config=config, home=home)
    return f"{target.name}: {len(meta['used_columns'])} features, {meta['cohorts']} cohorts"


def _loop(api, config, home, run_dir, progress) -> str:
    table, summary = api.loop(run_dir, config=config, home=home, progress=progress)
    paired = summary["paired_vs_random"].get("tap")
    return f"{len(table)} loop steps" + (f"; TAP − random {paired['mean']:+.4f}" if paired else "")


def _report(run_dir) -> str:
    from tap.report import build_report

    path = build_report(run_dir)
    return f"{path.name}, {path.stat().st_size / 1e6:.1f} MB"
