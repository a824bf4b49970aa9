"""Where things live: the TAP home cache, run-folder paths, atomic writes, table readers.

No partial file ever looks finished: every writer writes to a temporary name beside the target
and renames it into place.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tap.errors import TapInputError


def tap_home() -> Path:
    """The cache folder: $TAP_HOME, or ~/.cache/tap."""
    return Path(os.environ.get("TAP_HOME") or Path.home() / ".cache" / "tap").expanduser()


@dataclass(frozen=True)
class RunPaths:
    """The file names of one run folder (DESIGN.md, "Storage")."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def items(self) -> Path:
        return self.root / "items.parquet"

    @property
    def cohorts(self) -> Path:
        return self.root / "cohorts.parquet"

    @property
    def rollouts(self) -> Path:
        return self.root / "rollouts.parquet"

    @property
    def features(self) -> Path:
        return self.root / "features.parquet"

    @property
    def labels(self) -> Path:
        return self.root / "labels.sqlite"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.parquet"

    @property
    def predictor(self) -> Path:
        return self.root / "predictor.skops"


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; rename it to `target` if the block succeeds.

    If another process finished the same folder first, its result is kept and ours dropped.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _json_safe(value):
    """NaN and ±inf become null (strict JSON: browsers and `json.loads(..., parse_constant)` agree)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _json_safe(value.item())
    return value


def write_json(payload: dict, path: Path) -> None:
    """Strict JSON (NaN written as null), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_json_safe(payload), indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows = []
    with path.open() as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TapInputError(f"{path} line {line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise TapInputError(f"{path} line {line_no}: expected a JSON object, got {type(row).__name__}")
            rows.append(dict(row, _line=line_no))
    return pd.DataFrame(rows)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a parquet, JSONL or CSV file into a DataFrame, with one clear error when it can't.

    JSONL rows keep their line number in a `_line` column so later errors can name the line.
    """
    path = Path(path)
    if not path.exists():
        raise TapInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".json"):
            return _read_jsonl(path)
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
    except TapInputError:
        raise
    except Exception as exc:  # pyarrow/pandas raise many types for a damaged file
        kind = {".parquet": "parquet", ".csv": "CSV"}.get(suffix, suffix)
        raise TapInputError(
            f"{path}: not a readable {kind} file ({type(exc).__name__}: {exc})".splitlines()[0]
        ) from None
    raise TapInputError(f"{path}: unknown file type {suffix!r} (use .parquet, .jsonl or .csv)")
