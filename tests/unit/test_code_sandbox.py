"""Hostile programs in the code verifier's sandbox: each is contained and the reason reported."""

import os
from pathlib import Path

import pytest

from tap.verify.code import code_reward, extract_code, run_python


def test_a_correct_program_passes_and_a_wrong_one_fails():
    assert run_python("def f(x):\n    return x + 1", "assert f(1) == 2").passed
    result = run_python("def f(x):\n    return x", "assert f(1) == 2")
    assert not result.passed and result.reason.startswith("failed: AssertionError")


def test_infinite_loop_is_stopped():
    result = run_python("while True:\n    pass", timeout_s=1.5)
    assert not result.passed and result.reason in ("timeout", "cpu time limit")


def test_fork_bomb_is_stopped():
    result = run_python("import os\nwhile True:\n    os.fork()", timeout_s=3)
    assert not result.passed and "process creation" in result.reason


def test_subprocess_is_stopped():
    result = run_python("import subprocess\nsubprocess.run(['true'])", timeout_s=3)
    assert not result.passed and result.reason.startswith("forbidden")


def test_memory_bomb_is_stopped():
    result = run_python("x = []\nwhile True:\n    x.append(' ' * 10**7)", memory_mb=256, timeout_s=10)
    assert not result.passed and "memory" in result.reason


def test_writing_outside_the_sandbox_is_stopped(tmp_path):
    target = tmp_path / "escaped.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('x')", timeout_s=3)
    assert not result.passed and "outside the sandbox" in result.reason
    assert not target.exists()


def test_writing_inside_the_sandbox_is_allowed():
    result = run_python("open('scratch.txt', 'w').write('x')\nassert open('scratch.txt').read() == 'x'")
    assert result.passed, result.reason


def test_environment_secrets_are_not_inherited(monkeypatch):
    monkeypatch.setenv("TAP_TEST_SECRET", "hunter2")
    result = run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('TAP_TEST_SECRET'))")
    assert result.passed and "hunter2" not in result.stdout and "TAP_TEST_SECRET" not in result.stdout
    leak = run_python(f"print(open('/proc/{os.getpid()}/environ').read())")
    assert not leak.passed and "hunter2" not in leak.stdout and "environment" in leak.reason


def test_sockets_are_stopped():
    result = run_python("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))", timeout_s=3)
    assert not result.passed and result.reason.startswith("forbidden")


def test_exiting_early_is_not_a_pass():
    result = run_python("import sys\nsys.exit(0)", "assert False")
    assert not result.passed and "exited before its end" in result.reason


def test_sandbox_folder_is_removed():
    result = run_python("import os\nprint(os.getcwd())")
    assert result.passed and not Path(result.stdout.strip()).exists()


def test_code_reward_reads_fenced_code():
    completion = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
    assert extract_code(completion).startswith("def add")
    assert code_reward(completion, "assert add(2, 3) == 5") == (1.0, "passed")


@pytest.mark.parametrize("program", ["import ctypes", "import multiprocessing"])
def test_native_escape_hatches_are_closed(program):
    result = run_python(program)
    assert not result.passed and result.reason.startswith("forbidden")
