"""The pipeline's API: the world, rollouts, labels and features of a run folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from tap.config import TapConfig, config_to_toml, load_config
from tap.errors import TapInputError
from tap.store import RunPaths, write_parquet, write_text
from tap.world.build import World, build_world, policy_dir, shipped_policy


def world(
    config: TapConfig | None = None,
    *,
    home: Path | None = None,
    out: Path | None = None,
    progress: Callable[[int, int, dict | None], None] | None = None,
    rebuild: bool = False,
) -> World:
    """Build or reuse the tiny world; with `out`, also lay its files into a run folder. The policy comes
    from the cache, else from the package when it ships this config's policy, else is pretrained;
    `rebuild=True` pretrains it regardless."""
    config = config or load_config()
    built = build_world(config, home=home, progress=progress, rebuild=rebuild)
    if out is not None:
        paths = RunPaths(Path(out))
        paths.root.mkdir(parents=True, exist_ok=True)
        write_text(config_to_toml(config), paths.config)
        for name in ("items.parquet", "cohorts.parquet"):
            shutil.copyfile(built.root / name, paths.root / f".{name}.tmp")
            (paths.root / f".{name}.tmp").replace(paths.root / name)
    return built


def world_pretrains(config: TapConfig, home: Path | None = None, rebuild: bool = False) -> bool:
    """Whether building this config's world pretrains its policy (neither cached nor shipped, or a rebuild)."""
    return rebuild or (not policy_dir(config, home).exists() and shipped_policy(config) is None)


def dataset(config: TapConfig, out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A dataset study's items (with the held-out probe) and cohorts from `config.data`, written
    into the run folder `out` with its config.toml."""
    from tap.data.build import build_dataset

    items, cohorts = build_dataset(config)
    paths = RunPaths(Path(out))
    paths.root.mkdir(parents=True, exist_ok=True)
    write_text(config_to_toml(config), paths.config)
    write_parquet(items, paths.items)
    write_parquet(cohorts, paths.cohorts)
    return items, cohorts


def data_cohorts(
    source: str | Path,
    *,
    preset: str | None = None,
    columns: str | None = None,
    subject: str | None = None,
    verifier: str = "exact",
    size: int = 8,
    by: str = "random",
    split: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    tasks: str | None = None,
    count: int = 200,
    prompt: str = "library",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(items, cohorts) from a dataset file, a hub id or reasoning-gym: what `tap cohorts` writes and
    `tap score --data` scores. `columns` is "field=column,..." (without a preset); `tasks` is
    reasoning-gym's "name[:knob=value...],..."."""
    from tap.data.load import chunk_cohorts, load_items

    mapping = None
    if columns:
        pairs = [p.split("=", 1) for p in columns.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise TapInputError(f"--columns {columns!r}: expected field=column pairs separated by commas")
        mapping = {k.strip(): v.strip() for k, v in pairs}
    specs = None
    if tasks is not None or str(source) == "reasoning-gym":
        from tap.data.reasoning_gym import parse_tasks

        if str(source) != "reasoning-gym":
            raise TapInputError(f"--tasks is for the source reasoning-gym, not {source}")
        specs = parse_tasks(tasks or "", count=count, seed=seed, prompt=prompt)
    items = load_items(
        source,
        preset=preset,
        columns=mapping,
        subject=subject,
        verifier=verifier,
        split=split,
        limit=limit,
        tasks=specs,
    )
    return items, chunk_cohorts(items, size, by=by, seed=seed)


def write_cohorts(cohorts: pd.DataFrame, out: str | Path, *, for_verl: bool = False) -> Path:
    """A cohorts file: .parquet, .csv or .jsonl (one row per item); `for_verl`: a parquet file in verl's
    RL dataset schema, as TAP's verl sampler reads it (tap.integrations.verl_sampler.verl_dataset)."""
    out = Path(out)
    if for_verl:
        from tap.integrations.verl_sampler import verl_dataset

        if out.suffix != ".parquet":
            raise TapInputError(f"{out}: a verl dataset is a .parquet file")
        write_parquet(verl_dataset(cohorts), out)
    elif out.suffix == ".parquet":
        write_parquet(cohorts, out)
    elif out.suffix in (".csv", ".jsonl"):
        out.parent.mkdir(parents=True, exist_ok=True)
        cohorts.to_csv(out, index=False) if out.suffix == ".csv" else cohorts.to_json(out, orient="records", lines=True)
    else:
        raise TapInputError(f"{out}: the cohorts file must end in .parquet, .csv or .jsonl")
    return out


def load_policy(
    model: str | Path | None = None,
    config: TapConfig | None = None,
    *,
    home: Path | None = None,
    batch_size: int | None = None,
):
    """The policy `config.policy` names (`model`, a folder or hub id, overrides its model); the tiny
    world's policy when neither names one."""
    from tap.resolve import make_policy

    return make_policy(config or load_config(), home=home, model=model, batch_size=batch_size)


def forward_policy(model: str | Path | None, config: TapConfig, *, home: Path | None = None):
    """The policy for the forward-pass and gradient features: these need hidden states and
    gradients, which only the transformers backend gives (a vLLM config gets its hf twin)."""
    if config.policy.backend != "hf":
        config = config.model_copy(update={"policy": config.policy.model_copy(update={"backend": "hf"})})
    return load_policy(model, config, home=home)


def read_cohorts(path: str | Path, max_cohorts: int | None = None) -> pd.DataFrame:
    """Read and check a cohorts file (parquet, JSONL or CSV); optionally keep the first N cohorts."""
    from tap.rollouts import load_cohorts

    cohorts = load_cohorts(path)
    if max_cohorts is not None:
        keep = list(dict.fromkeys(cohorts.cohort_id))[:max_cohorts]
        cohorts = cohorts[cohorts.cohort_id.isin(keep)].reset_index(drop=True)
    return cohorts


def rollout(
    cohorts: str | Path | pd.DataFrame,
    out: str | Path,
    *,
    config: TapConfig | None = None,
    model: str | Path | None = None,
    home: Path | None = None,
    max_cohorts: int | None = None,
    verifier: str = "exact",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Sample G completions per item of each cohort (a file or a checked table); write rollouts.parquet."""
    from tap.rollouts import rollout_cohorts

    config = config or (_folder_config_of(Path(cohorts)) if not isinstance(cohorts, pd.DataFrame) else load_config())
    if not isinstance(cohorts, pd.DataFrame):
        cohorts = read_cohorts(cohorts, max_cohorts)
    elif max_cohorts is not None:
        cohorts = cohorts[cohorts.cohort_id.isin(list(dict.fromkeys(cohorts.cohort_id))[:max_cohorts])]
    policy = load_policy(model, config, home=home)
    r = config.rollout
    table = rollout_cohorts(
        policy, cohorts,
        num_generations=r.num_generations, max_new_tokens=r.max_new_tokens, temperature=r.temperature,
        seed=r.seed, prompts_per_batch=max(1, r.batch_size // r.num_generations), verifier=verifier,
        progress=progress,
    )
    write_parquet(table, Path(out))
    return table


def _folder_config_of(path: Path) -> TapConfig:
    """The config of the run folder a file lies in (its policy and sampling settings), else the defaults."""
    from tap.api.runs import folder_config

    return folder_config(Path(path).parent) or load_config()


def _run_config(run_dir: Path, config: TapConfig | None) -> TapConfig:
    """The config a stage runs with: the given one, else the run folder's, else the defaults.
    The run folder's config.toml is (re)written to what ran, so it always tells the truth."""
    from tap.api.runs import folder_config, save_run_config

    config = config or folder_config(run_dir) or load_config()
    save_run_config(run_dir, config)
    return config


def run_probe(run_dir: Path, config: TapConfig, *, home: Path | None = None) -> pd.DataFrame:
    """The probe of a run folder (items.parquet, split == "probe"), else the tiny world's."""
    path = RunPaths(Path(run_dir)).items
    if path.exists():
        items = pd.read_parquet(path)
        if "split" in items and (items.split == "probe").any():
            return items[items.split == "probe"].reset_index(drop=True)
    if config.data.is_dataset:
        raise TapInputError(f"{run_dir}: no probe (items.parquet) for this dataset study; pass a probe file (--probe)")
    return build_world(config, home=home).probe


def label(
    run_dir: str | Path,
    *,
    config: TapConfig | None = None,
    cohorts: str | Path | pd.DataFrame | None = None,
    max_cohorts: int | None = None,
    seeds: int | None = None,
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    retries: int = 1,
    home: Path | None = None,
    fail_times: dict[str, int] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
):
    """GRPO-train every cohort x seed from the base policy and record its lift in labels.sqlite.

    Cohorts come from `cohorts` (a file or a table) or the run folder's cohorts.parquet; the probe
    from the run folder's items.parquet (split == "probe"), else from the tiny world. The base
    policy is the one `config.policy` names (default: the tiny world's).
    """
    from tap.labels.battery import (
        base_probe_metrics,
        label_hash,
        label_settings,
        plan_units,
        run_battery,
        threads_per_worker,
    )
    from tap.labels.executors import make_executor
    from tap.labels.ledger import Ledger
    from tap.resolve import policy_source

    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    if seeds is not None:
        from tap.api.runs import folder_config

        config = config or folder_config(run_dir) or load_config()
        config = config.model_copy(update={"label": config.label.model_copy(update={"seeds": seeds})})
    config = _run_config(run_dir, config)
    if cohorts is None and not paths.cohorts.exists():
        raise TapInputError(f"{run_dir}: no cohorts.parquet (run `tap world build --out {run_dir}` or pass --cohorts)")
    table = cohorts if isinstance(cohorts, pd.DataFrame) else read_cohorts(cohorts or paths.cohorts)
    if max_cohorts is not None:  # the same cut for a file and for a table handed in directly
        table = table[table.cohort_id.isin(list(dict.fromkeys(table.cohort_id))[:max_cohorts])]
    probe = run_probe(run_dir, config, home=home)
    policy_dir, weights_id = policy_source(config, home=home)
    settings = label_settings(config)
    config_hash = label_hash(settings, weights_id, probe)
    ledger = Ledger(paths.labels)
    ledger.set_meta("last_label_hash", {"config_hash": config_hash})
    before = base_probe_metrics(ledger, config_hash, policy_dir, probe, settings)
    threads = threads_per_worker(workers, config.label.threads)
    units = plan_units(table, probe, policy_dir, settings, config_hash, before, threads, fail_times)
    pool = make_executor(executor, workers, run_dir=run_dir, ray_address=ray_address)
    try:
        return run_battery(units, ledger, pool, retries=retries, progress=progress)
    finally:
        pool.close()


def current_label_hash(run_dir: str | Path, config: TapConfig, *, home: Path | None = None) -> tuple[str | None, str]:
    """(the label-config hash the run's config implies, how it was found). When the tiny policy is
    not in the cache (a run folder copied to another machine), the hash of the last `tap label`."""
    from tap.labels.battery import label_hash, label_settings
    from tap.labels.ledger import Ledger
    from tap.resolve import policy_source

    _, weights_id = policy_source(config, home=home, build=False)
    if weights_id is not None:
        return label_hash(label_settings(config), weights_id, run_probe(Path(run_dir), config, home=home)), "config"
    last = Ledger(RunPaths(Path(run_dir)).labels).get_meta("last_label_hash")
    return (last or {}).get("config_hash"), "the last `tap label` (the tiny policy is not in the cache)"


def label_selection(run_dir: str | Path, config: TapConfig | None = None, *, home: Path | None = None):
    """The ledger rows a reader of this run folder uses: one label config (the one the run's config
    implies) and the run's current cohorts (matched by content), with what was set aside."""
    from tap.api.runs import folder_config
    from tap.labels.identity import cohort_hashes
    from tap.labels.ledger import Ledger

    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    if not paths.labels.exists():
        raise TapInputError(f"{run_dir}: no labels.sqlite (run `tap label {run_dir}` first)")
    config = config or folder_config(run_dir) or load_config()
    config_hash, basis = current_label_hash(run_dir, config, home=home)
    hashes = cohort_hashes(pd.read_parquet(paths.cohorts), config.label.verifier) if paths.cohorts.exists() else None
    selection = Ledger(paths.labels).select(config_hash or "", hashes)
    return replace(selection, basis="" if basis == "config" else basis)


def labels_table(
    run_dir: str | Path, *, config: TapConfig | None = None, home: Path | None = None
) -> tuple[pd.DataFrame, dict]:
    """Per-cohort labels (of the run's `[evaluate] target`) joined with each cohort's knobs, and the
    battery summary (with `target`, `notes`: what the reader set aside, and `label_config_hash`)."""
    from tap.labels.summary import battery_summary, cohort_labels

    from tap.api.runs import folder_config

    paths = RunPaths(Path(run_dir))
    config = config or folder_config(run_dir) or load_config()
    target = config.evaluate.target
    selection = label_selection(run_dir, config, home=home)
    rows = selection.rows
    if rows[target].isna().all() and rows["lift_nll"].notna().any():  # rows written before the target existed
        target = "lift_nll"
    per_cohort = cohort_labels(rows, target)
    if paths.cohorts.exists():
        knobs = pd.read_parquet(paths.cohorts).groupby("cohort_id").first().reset_index()
        keep = [
            c
            for c in (
                "cohort_id",
                "cohort_subject",
                "vendor",
                "difficulty_lo",
                "difficulty_hi",
                "corruption_rate",
                "systematic_rate",
                "duplicate_rate",
                "off_format_rate",
                "subject",
            )
            if c in knobs.columns
        ]
        per_cohort = per_cohort.merge(knobs[keep], on="cohort_id", how="left")
    notes = selection.notes() + (
        [f"the label is {target}: these rows have no {config.evaluate.target} (labelled before it existed)"]
        if target != config.evaluate.target
        else []
    )
    summary = {
        **battery_summary(rows, target),
        "target": target,
        "label_config_hash": selection.config_hash,
        "notes": notes,
    }
    return per_cohort, summary


def features(
    rollouts: str | Path,
    out: str | Path,
    *,
    families: set[str] = frozenset({"R", "F"}),
    cohorts: str | Path | None = None,
    config: TapConfig | None = None,
    model: str | Path | None = None,
    home: Path | None = None,
) -> pd.DataFrame:
    """Features per cohort from a rollouts file -> features.parquet. The forward-pass family also
    needs the cohorts (default: cohorts.parquet beside the rollouts) and the policy."""
    from tap.advantages import Objective
    from tap.features.compute import build_features
    from tap.store import read_table

    rollouts = Path(rollouts)
    table = read_table(rollouts)
    missing = [
        c
        for c in ("cohort_id", "position", "reward", "answer", "n_tokens", "finish_reason", "logprobs", "entropies")
        if c not in table
    ]
    if missing:
        raise TapInputError(f"{rollouts}: missing column {missing[0]!r} (is this a rollouts file from `tap rollout`?)")
    items = probe = policy = None
    if families & {"F", "G"}:
        config = config or _folder_config_of(rollouts)
        items = read_cohorts(cohorts or rollouts.with_name("cohorts.parquet"))
        policy = forward_policy(model, config, home=home)
        probe = run_probe(rollouts.parent, config, home=home)
    objective = Objective.of(config.label) if config is not None else None
    result = build_features(table, set(families), items=items, policy=policy, probe=probe, objective=objective)
    write_parquet(result, Path(out))
    return result

