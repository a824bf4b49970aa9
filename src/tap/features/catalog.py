"""Every feature TAP computes, with its cost tag and definition: the one list the predictor, the
scorers, the API and `tap features list` read."""

from __future__ import annotations


def feature_catalog() -> list[tuple[str, str, str]]:
    """(name, cost tag, one-line definition) of every feature TAP computes."""
    from tap.features.gradients import GRADIENT_FEATURES
    from tap.features.head_align import HEAD_ALIGN_FEATURES
    from tap.features.registry import FEATURES
    from tap.features.representations import MODEL_FEATURES

    rows = [(f.name, f.tag, f.definition) for f in FEATURES.values()]
    rows += [
        (name, "F", " ".join((fn.__doc__ or "").split("] ", 1)[-1].split())) for name, fn in MODEL_FEATURES.items()
    ]
    rows += [(name, "F", text) for name, text in HEAD_ALIGN_FEATURES.items()]
    rows += [(name, "G", text) for name, text in GRADIENT_FEATURES.items()]
    return rows


def feature_tags() -> dict[str, str]:
    """Feature name -> cost tag (R, F or G)."""
    return {name: tag for name, tag, _ in feature_catalog()}
