"""Shared fixtures: an isolated TAP home per test session and a tiny world built once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A world small enough to pretrain in seconds: pipeline tests need a real model, not a good one.
MICRO = [
    "world.cohorts.count=16",
    "world.probe.per_subject=8",
    "world.pool.per_level=20",
    "pretrain.max_steps=30",
    "pretrain.eval_every=30",
    "pretrain.batch_size=32",
]


@pytest.fixture(scope="session")
def tap_home(tmp_path_factory) -> Path:
    """A fresh cache per session; set TAP_TEST_HOME to reuse one between local runs."""
    home = Path(os.environ["TAP_TEST_HOME"]) if os.environ.get("TAP_TEST_HOME") else tmp_path_factory.mktemp("tap_home")
    os.environ["TAP_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def micro_config():
    from tap.config import load_config

    return load_config(None, MICRO)


@pytest.fixture(scope="session")
def micro_world(micro_config, tap_home):
    from tap.world.build import build_world

    return build_world(micro_config, home=tap_home)


@pytest.fixture(scope="session")
def micro_policy(micro_world):
    from tap.policy.hf import HFPolicy

    return HFPolicy.from_pretrained(micro_world.policy_dir, batch_size=256)


@pytest.fixture(scope="session")
def default_world(tap_home):
    """The default tiny world, as `make demo` builds it (~3 min on 2 cores, once per session)."""
    from tap.config import load_config
    from tap.world.build import build_world

    return build_world(load_config(), home=tap_home)


def run_tap(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the `tap` CLI in a subprocess, as a user would."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "tap.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
    )
