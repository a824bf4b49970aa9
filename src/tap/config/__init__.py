"""One typed config tree, read from TOML files plus `--set key.path=value` overrides.

Every field carries its help text; the TOML files in `configs/` and the CLI flags are views of
this tree. Unknown keys are errors (a typo must not silently fall back to a default).
sections: the tree's models (world and data: their own sections); files: loading, overrides, the TOML dump
and the cache keys.
"""

from tap.config.files import config_to_toml, load_config, policy_key, stable_hash, with_data_budget, world_key
from tap.config.sections import (
    WORLD_CODE_VERSION, CohortsConfig, DataConfig, DataSource, EvaluateConfig, InterventionConfig, KnowledgeConfig,
    LabelConfig, LoopConfig, ModelConfig, PolicyConfig, PoolConfig, PredictorConfig, PretrainConfig, ProbeConfig,
    ReasoningGymTask, RolloutConfig, StudyConfig, TapConfig, VendorConfig, WorldConfig, WorldTask,
)

__all__ = [
    "WORLD_CODE_VERSION",
    "CohortsConfig",
    "DataConfig",
    "DataSource",
    "EvaluateConfig",
    "InterventionConfig",
    "KnowledgeConfig",
    "LabelConfig",
    "LoopConfig",
    "ModelConfig",
    "PolicyConfig",
    "PoolConfig",
    "PredictorConfig",
    "PretrainConfig",
    "ProbeConfig",
    "ReasoningGymTask",
    "RolloutConfig",
    "StudyConfig",
    "TapConfig",
    "VendorConfig",
    "WorldConfig",
    "WorldTask",
    "config_to_toml",
    "load_config",
    "policy_key",
    "stable_hash",
    "with_data_budget",
    "world_key",
]
