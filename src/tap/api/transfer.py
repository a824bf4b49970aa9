"""Transfer across worlds: `tap evaluate --worlds` (leave one world out, the few-label curve) and the
pooled predictor fitted on a whole zoo (`fit_zoo`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from tap.errors import TapInputError


def world_folders(paths: list[str | Path]) -> list[Path]:
    """Each path is a world (a run folder or a zoo export: it holds config.toml) or a folder of worlds."""
    out: list[Path] = []
    for path in map(Path, paths):
        if (path / "config.toml").exists():
            out.append(path)
        elif path.is_dir():
            inner = sorted(p for p in path.iterdir() if (p / "config.toml").exists())
            if not inner:
                raise TapInputError(f"{path}: neither a world (no config.toml) nor a folder of worlds")
            out += inner
        else:
            raise TapInputError(f"{path}: no such folder")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise TapInputError(f"two worlds share a folder name: {sorted(n for n in names if names.count(n) > 1)}")
    return out


def declared_test_worlds(paths: list[str | Path]) -> list[str]:
    """Test worlds a zoo declares (zoo.json's "test_worlds" in a folder of worlds)."""
    names: list[str] = []
    for path in map(Path, paths):
        record = path / "zoo.json"
        if record.exists():
            names += json.loads(record.read_text()).get("test_worlds", [])
    return names


def load_run_world(folder: Path, *, target: str, test: bool, home: Path | None):
    """A world from a labelled run folder: its labelled features and seed labels under its label config."""
    import numpy as np

    from tap.api.predict import _labelled_features
    from tap.config import load_config, policy_key
    from tap.evaluate.transfer import World

    config = load_config(folder / "config.toml")
    config = config.model_copy(update={"evaluate": config.evaluate.model_copy(update={"target": target})})
    data = _labelled_features(folder, config, home)
    return World(folder.name, data["features"].reset_index(drop=True), np.asarray(data["y_cs"], float),
                 data["domains"], np.asarray(data["groups"]), policy_key(config), test,
                 {"folder": str(folder), "suite": config.world.suite})


def load_worlds(paths: list[str | Path], test_worlds: list[str] | None = None, *, target: str = "lift_pass",
                home: Path | None = None):
    from tap.evaluate.transfer import is_exported_world, load_world

    folders = world_folders(paths)
    tests = set(declared_test_worlds(paths) if test_worlds is None else test_worlds)
    unknown = tests - {f.name for f in folders} - set(declared_test_worlds(paths))
    if unknown:
        raise TapInputError(f"test world {sorted(unknown)[0]!r} is none of the worlds given")
    return [load_world(f, target=target, test=f.name in tests) if is_exported_world(f)
            else load_run_world(f, target=target, test=f.name in tests, home=home) for f in folders]


def evaluate_worlds(
    paths: list[str | Path], out: str | Path, *, test_worlds: list[str] | None = None, target: str = "lift_pass",
    resamples: int = 1000, draws: int = 10, seed: int = 0, home: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Leave-one-world-out transfer and the few-label curve over the worlds; writes transfer.json and
    adaptation.json into `out` and returns both."""
    from tap import __version__
    from tap.evaluate.adapt import evaluate_adaptation
    from tap.evaluate.transfer import evaluate_transfer
    from tap.store import write_json

    worlds = load_worlds(paths, test_worlds, target=target, home=home)
    started = time.perf_counter()
    transfer = evaluate_transfer(worlds, resamples=resamples, seed=seed, progress=progress)
    protocol = transfer["protocol"]
    adaptation = evaluate_adaptation(worlds, protocol["columns"], protocol["normalization"]["chosen"], draws=draws,
                                     seed=seed, progress=progress)
    common = {"tap_version": __version__, "target": target, "worlds_given": [str(p) for p in paths],
              "test_worlds": [w.name for w in worlds if w.test], "seconds": time.perf_counter() - started}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    transfer, adaptation = {**common, **transfer}, {**common, **adaptation}
    write_json(transfer, out / "transfer.json")
    write_json(adaptation, out / "adaptation.json")
    return {"transfer": transfer, "adaptation": adaptation}




def fit_zoo(paths: list[str | Path], out: str | Path, *, transfer: str | Path | None = None,
            target: str = "lift_pass", home: Path | None = None) -> tuple[Path, dict]:
    """The pooled predictor fitted on every world given (test worlds included: nothing is chosen here), with
    the normalization and the leave-one-world-out record of `transfer` (a transfer.json; default: the one in
    the first folder given) and the shrinkage its adaptation.json chose for `tap fit --prior`. Saved as skops with
    a sidecar that `tap score` reads; returns (path, sidecar)."""
    from tap.evaluate.transfer import fit_pooled, pooled_estimator, pooled_training
    from tap.predict.artifact import save_predictor

    record_path = Path(transfer) if transfer else Path(paths[0]) / "transfer.json"
    if not record_path.exists():
        raise TapInputError(f"{record_path}: no transfer record (run `tap evaluate --worlds ... --out` first)")
    record = json.loads(record_path.read_text())
    worlds = load_worlds(paths, record.get("test_worlds", []), target=target, home=home)
    columns, how = record["protocol"]["columns"], record["protocol"]["normalization"]["chosen"]
    X, y, names = pooled_training(worlds, columns, how)
    predictor = fit_pooled(pooled_estimator, X, y, names)
    summary = record["summary"]
    adaptation = record_path.with_name("adaptation.json")
    shrinkage = (json.loads(adaptation.read_text())["protocol"]["shrinkage"]["chosen"] if adaptation.exists()
                 else 10.0)
    meta = {
        "kind": "zoo", "columns": columns, "used_columns": [columns[i] for i in predictor.columns_],
        "normalization": how, "shrinkage": shrinkage, "target": target, "cohorts": int(len(y)),
        "model": predictor.describe(),
        "worlds": [{"name": w.name, "policy_key": w.policy, "cohorts": len(w), "test_world": w.test} for w in worlds],
        "transfer_record": str(record_path), "zero_shot": {
            part: {"worlds": summary[part]["worlds"], **{
                stat: summary[part]["scorers"]["zero-shot TAP"].get(stat) for stat in ("rho", "auroc_harm")}}
            for part in summary},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_predictor(predictor, out, meta)
    return out, meta
