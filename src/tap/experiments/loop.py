"""The closed loop (DESIGN.md, "Closed loop"): TAP steering GRPO online, against random choice.

For each loop seed and arm, from the base policy: T times, draw M fresh candidate cohorts from the
world's vendor generator (the same candidates for every arm), choose one, GRPO-train on it for K
steps with TRL (one AdamW kept across steps, so its moments carry over), and measure the probe.
Arms:
- "tap": scores candidates against the *current* policy (rollouts -> R, and F when its prior reads
  them). It starts from a prior (the advantage-spread heuristic `adv_std`, or a predictor from `tap
  fit`), records each trained cohort's realized lift, and from `refit_after` observations on ranks
  by a ridge refit on them (standardized R features).
- "cascade": TAP's scores, then a short run (loop.short_run_steps GRPO steps on a copy of the current
  weights, a fresh optimizer) of its top loop.cascade_top candidates only; trains on the best short run.
- "random": a uniform pick among the same candidates.
- "reward_filter": the highest frac_nondegenerate (the DAPO-style filter of every RL stack).
Every arm trains step t with the same training seed. The probe is measured as a label run measures
it (the label settings' temperature and samples, the same sampling stream), and a step's realized
lift is the change of the configured target (`evaluate.target`: lift_pass, the probe's expected
accuracy, by default); the loop's outcome is the cumulative lift after T steps.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tap.stats import t_interval

ARMS = ("tap", "random", "reward_filter", "cascade")


@dataclass
class OnlineScorer:
    """Prior scores until `refit_after` observations, then a ridge refit on the observed lifts."""

    prior: Callable[[pd.DataFrame], np.ndarray]
    prior_name: str
    columns: list[str]
    refit_after: int = 4
    seed: int = 0
    observed_X: list[np.ndarray] = field(default_factory=list)
    observed_y: list[float] = field(default_factory=list)

    def score(self, features: pd.DataFrame) -> tuple[np.ndarray, str]:
        if len(self.observed_y) < self.refit_after:
            return np.asarray(self.prior(features), float), self.prior_name
        from tap.predict.predictor import TAPPredictor

        model = TAPPredictor(model="ridge", interval="none", random_state=self.seed)
        model.fit(np.stack(self.observed_X), np.asarray(self.observed_y))
        return model.predict(features[self.columns].to_numpy(float)), f"ridge on {len(self.observed_y)} observations"

    def observe(self, row: pd.Series, realized: float) -> None:
        self.observed_X.append(row[self.columns].to_numpy(float))
        self.observed_y.append(float(realized))


def candidates(config, items: pd.DataFrame, loop_seed: int, step: int, count: int) -> pd.DataFrame:
    """M fresh cohorts from the world's vendor generator, on a stream of their own per seed and step."""
    from tap.world.vendor import make_cohorts

    world = config.world.model_copy(update={"cohorts": config.world.cohorts.model_copy(update={"count": count})})
    return make_cohorts(config.model_copy(update={"world": world}), items, stream=f"loop-{loop_seed}-{step}",
                        prefix=f"s{loop_seed}t{step}-")


def _features(policy, cohorts: pd.DataFrame, config, seed: int, families: frozenset[str] = frozenset({"R"}),
              probe: pd.DataFrame | None = None) -> pd.DataFrame:
    """Features of the candidates with the current policy: R, plus F when the prior reads them."""
    from tap.advantages import Objective
    from tap.features.compute import build_features
    from tap.rollouts import rollout_cohorts

    r = config.rollout
    rollouts = rollout_cohorts(
        policy,
        cohorts,
        num_generations=r.num_generations,
        max_new_tokens=r.max_new_tokens,
        temperature=r.temperature,
        seed=seed,
        prompts_per_batch=max(1, r.batch_size // r.num_generations),
    )
    return build_features(rollouts, set(families) | {"R"}, items=cohorts, policy=policy, probe=probe,
                          objective=Objective.of(config.label)).set_index("cohort_id")


def _train(policy, optimizer, cohort: pd.DataFrame, settings: dict, seed: int) -> None:
    from tap.labels.trl_run import LabelUnit, train_cohort

    unit = LabelUnit(
        str(cohort.cohort_id.iloc[0]), seed, tuple(cohort.prompt), tuple(cohort.gold), "", (), {}, settings, "loop"
    )
    train_cohort(unit, policy.model, policy.tokenizer, optimizer=optimizer, prompt_format=policy.prompt_format)
    policy.model.eval()


def run_arm(arm: str, loop_seed: int, config, world, prior: tuple[Callable, str], progress: Callable | None = None,
            families: frozenset[str] = frozenset({"R"})) -> list[dict]:
    """One arm of one loop seed: T steps from the base policy; one row per step. `families`: the
    feature families the TAP arm's prior reads (R, or R+F); the cascade reads the same."""
    import torch

    from tap.experiments.cascade import cascade_pick, probe_summary, short_run_lifts
    from tap.features.registry import FEATURES
    from tap.policy.hf import HFPolicy
    from tap.probe import lifts

    loop = config.loop
    target = config.evaluate.target
    settings = {**config.label.model_dump(), "steps": loop.train_steps}
    short_settings = {**settings, "steps": loop.short_run_steps}
    policy = HFPolicy.from_pretrained(world.policy_dir, batch_size=config.rollout.batch_size)
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=config.label.learning_rate, weight_decay=0.0)
    r_columns = [name for name, f in FEATURES.items() if f.tag == "R"]
    scorer = OnlineScorer(prior[0], prior[1], r_columns, loop.refit_after, loop_seed)
    chooser = random.Random(f"loop-random-{loop_seed}")
    start = state = probe_summary(policy, world.probe, settings)
    rows = []
    for step in range(loop.steps):
        pool = candidates(config, world.items, loop_seed, step, loop.candidates)
        ids = list(dict.fromkeys(pool.cohort_id))
        predicted, features, short_runs = np.nan, None, []
        if arm == "random":
            chosen, name = chooser.choice(ids), "random"
        else:
            features = _features(
                policy,
                pool,
                config,
                1000 * loop_seed + step,
                families if arm in ("tap", "cascade") else frozenset({"R"}),
                world.probe,
            ).loc[ids]
            if arm in ("tap", "cascade"):
                scores, name = scorer.score(features)
            else:
                scores, name = features.frac_nondegenerate.to_numpy(float), "frac_nondegenerate"
            best = int(np.argmax(np.nan_to_num(scores, nan=-np.inf)))
            if arm == "cascade":
                def short_run(indices: list[int], state=state, pool=pool, ids=ids, step=step) -> list[float]:
                    return [short_run_lifts(policy, pool[pool.cohort_id == ids[i]], short_settings,
                                            20_000 * loop_seed + step, world.probe, state)[target]
                            for i in indices]

                best, values, top = cascade_pick(scores, short_run, loop.cascade_top)
                name = f"{name}, then a short run on its top {loop.cascade_top}"
                short_runs = [{"cohort_id": ids[i], "value": float(values[i])} for i in top]
            chosen, predicted = ids[best], float(scores[best])
        _train(policy, optimizer, pool[pool.cohort_id == chosen], settings, seed=10_000 * loop_seed + step)
        after = probe_summary(policy, world.probe, settings)
        realized = lifts(state, after)[target]
        if arm in ("tap", "cascade"):
            scorer.observe(features.loc[chosen], realized)
        rows.append(
            {
                "loop_seed": loop_seed,
                "arm": arm,
                "step": step + 1,
                "chosen": chosen,
                "scorer": name,
                "predicted": predicted,
                "target": target,
                "realized_lift": realized,
                "cumulative_lift": lifts(start, after)[target],
                "probe_nll": after["all"]["gold_nll"],
                "probe_accuracy": after["all"]["accuracy"],
                "probe_pass": after["all"]["pass"],
                "short_runs": short_runs,
                "chosen_subject": str(pool[pool.cohort_id == chosen].subject.mode().iloc[0]),
                "chosen_vendor": str(pool[pool.cohort_id == chosen].vendor.iloc[0]),
            }
        )
        state = after
        if progress:
            progress()
    return rows


def adv_spread_prior() -> tuple[Callable, str]:
    return (lambda features: features["adv_std"].to_numpy(float)), "prior: adv_std"


def summarize(table: pd.DataFrame) -> dict:
    """The cumulative lift of the configured target after the last step per arm (mean and 95%
    t-interval over loop seeds), and the paired difference of each arm against random and against
    the reward filter."""
    last = table[table.step == table.step.max()].pivot(index="loop_seed", columns="arm", values="cumulative_lift")
    target = str(table.target.iloc[0]) if "target" in table else "lift_nll"
    out = {"seeds": int(len(last)), "steps": int(table.step.max()), "target": target, "arms": {},
           "paired_vs_random": {}, "paired_vs_reward_filter": {}}
    for arm in last.columns:
        out["arms"][arm] = t_interval(last[arm].to_numpy())
    for reference, key in (("random", "paired_vs_random"), ("reward_filter", "paired_vs_reward_filter")):
        for arm in last.columns:
            if arm != reference and reference in last.columns:
                out[key][arm] = t_interval((last[arm] - last[reference]).to_numpy())
    return out
