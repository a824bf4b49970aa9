"""Which weights a label was trained from: a model folder is identified by its files' contents.

The id of a local folder is a hash over every file that shapes the model (weights, config,
tokenizer, chat template), each by the sha256 of its bytes, so retraining into the same folder
changes it while copying the folder elsewhere does not. Hashing a multi-GB checkpoint takes
seconds to minutes, so each file's digest is cached under the TAP home, keyed by its absolute
path, size and modification time: an unchanged folder is never read twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tap.config import stable_hash
from tap.store import atomic_path, file_sha256, tap_home

# Files a training run leaves beside a checkpoint that do not change what the model computes.
NOT_MODEL_FILES = {
    "optimizer.pt",
    "optimizer.bin",
    "scheduler.pt",
    "trainer_state.json",
    "training_args.bin",
    "README.md",
}


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder that shape the model, in a stable order."""
    files = []
    for path in sorted(Path(folder).rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if path.name in NOT_MODEL_FILES or path.name.startswith("rng_state"):
            continue
        files.append(path)
    return files


class DigestCache:
    """sha256 digests of files keyed by (absolute path, size, mtime_ns), kept in one JSON file."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else tap_home() / "file-digests.json"
        try:
            self.entries: dict = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            self.entries = {}
        self.changed = False

    def digest(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        entry = self.entries.get(key)
        if entry and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
            return entry["sha256"]
        sha = file_sha256(path)
        self.entries[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
        self.changed = True
        return sha

    def save(self) -> None:
        if self.changed:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps(self.entries, sort_keys=True))
            self.changed = False


def folder_id(folder: str | Path, *, cache: DigestCache | None = None) -> str:
    """'folder:' + a hash of {relative path: sha256} over the folder's model files."""
    folder = Path(folder)
    cache = cache or DigestCache()
    files = model_files(folder)
    if not files:
        from tap.errors import TapInputError

        raise TapInputError(f"{folder}: no model files in this folder")
    digests = {str(p.relative_to(folder)).replace(os.sep, "/"): cache.digest(p) for p in files}
    cache.save()
    return "folder:" + stable_hash(digests, length=16)
