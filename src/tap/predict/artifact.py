"""Save and load a fitted predictor with skops (no pickle: loading never executes code).

Loading trusts only the types a TAPPredictor is built from; a file holding anything else, a
damaged file, or a file of another format fails with one TapInputError line.
"""

from __future__ import annotations

import json
from pathlib import Path

from tap.errors import TapInputError
from tap.store import atomic_path

FORMAT = "tap-predictor-skops-1"
# the zoo's pooled predictor that ships with TAP (`tap fit --worlds docs/results/zoo`): `tap score` ranks with it
# when given no predictor
SHIPPED_ZOO = Path(__file__).resolve().parent / "shipped" / "zoo.skops"


def save_predictor(predictor, path: str | Path, metadata: dict | None = None) -> None:
    """Write `predictor` to a .skops file (atomically), with a JSON sidecar of metadata."""
    import skops.io as sio

    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump(predictor, tmp)
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, **(metadata or {})}, indent=2, sort_keys=True) + "\n")


def _trusted(untrusted: list[str]) -> list[str]:
    allowed_prefixes = ("tap.predict.predictor.", "tap.predict.prior.", "tap.predict.gate.", "tap.predict.shrink.",
                        "sklearn.", "numpy.",
                        "scipy.", "builtins.")
    return [t for t in untrusted if t.startswith(allowed_prefixes)]


def load_predictor(path: str | Path):
    """Load a predictor written by `save_predictor`; anything unexpected is one clear error."""
    import skops.io as sio

    path = Path(path)
    if not path.exists():
        raise TapInputError(f"{path}: no such predictor file")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # not a zip / not a skops file
        raise TapInputError(f"{path}: not a TAP predictor file ({type(exc).__name__})") from None
    foreign = sorted(set(untrusted) - set(_trusted(untrusted)))
    if foreign:
        raise TapInputError(
            f"{path}: refuses to load untrusted type {foreign[0]} (the file is not a plain TAP predictor)"
        )
    try:
        predictor = sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise TapInputError(f"{path}: damaged predictor file ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    from tap.predict.predictor import TAPPredictor
    from tap.predict.prior import PriorPredictor

    if not isinstance(predictor, (TAPPredictor, PriorPredictor)):
        raise TapInputError(f"{path}: holds a {type(predictor).__name__}, not a TAPPredictor")
    return predictor
