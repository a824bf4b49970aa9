"""Per-step choice quality (issue 18): how good is each arm's pick, judged where it is made.

The cumulative loop (tap/experiments/loop.py) compares arms whose trajectories part after their first different
choice, so its paired interval cannot resolve realistic differences. Here every arm chooses from
the same state among the same candidates, and every candidate is labelled from that state:

For each loop seed, from the base policy, T times:
1. draw M fresh candidate cohorts (the loop's stream: `tap.experiments.loop.candidates`);
2. read their features with the current policy (R, plus F / G when an arm needs them);
3. label every candidate from the current weights: S seeds of K GRPO steps each, through the run's
   ledger like any label run (the oracle), and one short run per candidate on a seed the oracle does
   not use (the short-run arm's score);
4. let every arm choose; score each choice against the oracle: regret to the best candidate, rank
   of the chosen one (1 = best), and its gain over the candidates' mean;
5. advance: GRPO-train the followed arm's choice (TAP by default) from the current weights with the
   oracle's first seed; TAP observes that run's label and refits.

Arms: "tap" (the offline predictor as its prior plus a ridge on its residuals, refitted online from
the labels of what it trained on), "random", "learnability" (mean p(1-p)), "reward_filter"
(frac_nondegenerate, the DAPO-style filter), "gradient" (a gradient feature, grad_cos by default)
"short_run" (another seed's lift after a 1-step run) and "cascade<k>" (TAP ranks all M, the short run
is run on its top k only, and the best short run is chosen; issue 31). Summaries pair arms by state:
they all chose from it. Intervals resample loop seeds (states within a seed share a trajectory).

Every arm is priced at every state, from what that state's run measured: the rollouts and the R, F
and G features (build_features' cost columns) and each short run (the ledger's wall seconds and
FLOPs of that label run). An arm pays for what it reads: random nothing; learnability and
reward_filter the rollouts and R; gradient also G; TAP the families its prior reads; the short-run
arm M short runs; a cascade TAP's price plus the k short runs it ran.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tap.experiments.cascade import cascade_pick, cascade_top
from tap.stats import percentile_interval, resample_indices

CHOICE_ARMS = ("tap", "random", "learnability", "reward_filter", "gradient", "short_run")  # and cascade<k>
HEURISTICS = {"learnability": "learnability", "reward_filter": "frac_nondegenerate"}
# What each scoring arm reads besides the rollouts (TAP reads its prior's families, given at run time).
ARM_FAMILIES = {"random": (), "learnability": ("R",), "reward_filter": ("R",), "gradient": ("R", "G")}


def state_costs(features: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Seconds and FLOPs of what one state's scoring computed, summed over its candidates: the
    rollouts and each feature family present (build_features' per-cohort cost columns)."""
    def total(column: str) -> float:
        return float(features[column].sum()) if column in features else float("nan")

    parts = {"rollouts": {"seconds": total("cost_rollout_seconds"), "flops": total("cost_rollout_flops")},
             "R": {"seconds": total("cost_R_seconds"), "flops": 0.0}}
    for family in ("F", "G"):
        if f"cost_{family}_seconds" in features:
            parts[family] = {"seconds": total(f"cost_{family}_seconds"), "flops": total(f"cost_{family}_flops")}
    return parts


def arm_price(arm: str, parts: dict, tap_families: set[str], short_costs: pd.DataFrame, ran: list[str]) -> dict:
    """One arm's seconds and FLOPs at one state: the rollouts and feature families it reads (`parts`,
    from state_costs) and the short runs it ran (`short_costs`: seconds, flops per cohort id)."""
    if arm == "tap" or cascade_top(arm) is not None:
        families = {"R", *tap_families}
    elif arm == "short_run":
        families = set()
    else:
        families = set(ARM_FAMILIES[arm])
    pieces = [parts["rollouts"], *(parts[f] for f in sorted(families) if f in parts)] if families else []
    runs = short_costs.loc[ran]
    return {
        "seconds": float(sum(p["seconds"] for p in pieces) + runs.seconds.sum()),
        "flops": float(sum(p["flops"] for p in pieces) + runs.flops.sum()),
        "short_runs": len(ran),
    }

# A callable that labels `pool` from the weights in `state_dir`: (state_dir, pool, steps, seeds, first_seed)
# -> one row per cohort x seed with columns cohort_id, seed, value (the configured target), and the
# run's wall_seconds and flops where known (what the short-run arm and the cascades pay).
LabelState = Callable[[Path, pd.DataFrame, int, int, int], pd.DataFrame]


@dataclass
class ResidualRefit:
    """The TAP arm's scorer: an offline predictor (the prior) plus a ridge fitted online on the
    residuals (realized label − prior score) of the cohorts it has trained on, once it has
    `refit_after` of them. The prior keeps the battery's ranking; the ridge corrects it where the
    trajectory has moved the model."""

    prior: Callable[[pd.DataFrame], np.ndarray]
    prior_name: str
    columns: list[str]
    refit_after: int = 4
    alpha: float = 1.0
    observed_X: list[np.ndarray] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)

    def score(self, features: pd.DataFrame) -> tuple[np.ndarray, str]:
        base = np.asarray(self.prior(features), float)
        if len(self.residuals) < self.refit_after:
            return base, self.prior_name
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        ridge = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), Ridge(alpha=self.alpha)
        )
        ridge.fit(np.stack(self.observed_X), np.asarray(self.residuals))
        correction = ridge.predict(features.reindex(columns=self.columns).to_numpy(float))
        return base + correction, f"{self.prior_name} + ridge on {len(self.residuals)} residuals"

    def observe(self, row: pd.DataFrame, realized: float) -> None:
        """`row`: the trained cohort's features (one row); `realized`: its label."""
        prior = float(np.asarray(self.prior(row), float)[0])
        self.observed_X.append(row.reindex(columns=self.columns).to_numpy(float)[0])
        self.residuals.append(float(realized) - prior)


def arm_scores(
    arm: str, features: pd.DataFrame, short: pd.Series, tap: ResidualRefit, gradient_feature: str
) -> tuple[np.ndarray, str]:
    """Every arm but random and the cascades scores the candidates (rows of `features`, in candidate order)."""
    if arm == "tap":
        return tap.score(features)
    if arm in HEURISTICS:
        return features[HEURISTICS[arm]].to_numpy(float), HEURISTICS[arm]
    if arm == "gradient":
        return features[gradient_feature].to_numpy(float), gradient_feature
    if arm == "short_run":
        return short.reindex(features.index).to_numpy(float), "short run"
    raise ValueError(f"unknown arm {arm!r} (choose from {', '.join(CHOICE_ARMS)})")


def judge(oracle: np.ndarray, chosen: int) -> dict:
    """One choice against the candidates' oracle labels: regret to the best, rank of the chosen
    one (1 = best; ties share their mean rank), and its gain over the candidates' mean (random's
    expected pick) next to the best's."""
    from scipy.stats import rankdata

    oracle = np.asarray(oracle, float)
    ranks = rankdata(-oracle, method="average")
    return {
        "oracle_value": float(oracle[chosen]),
        "best_value": float(oracle.max()),
        "mean_value": float(oracle.mean()),
        "regret": float(oracle.max() - oracle[chosen]),
        "rank": float(ranks[chosen]),
        "gain": float(oracle[chosen] - oracle.mean()),
        "best_gain": float(oracle.max() - oracle.mean()),
    }


def _save_state(model, base_dir: str, state_dir: Path) -> None:
    """The current weights as a policy folder: the base folder's files (tokenizer, config) with
    the model's weights written over them; no weights.sha256, so the folder is identified by content."""
    if state_dir.exists():
        shutil.rmtree(state_dir)
    shutil.copytree(base_dir, state_dir, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "weights.sha256"))
    model.save_pretrained(state_dir)


def _features(policy, pool: pd.DataFrame, config, probe: pd.DataFrame, families: set[str], seed: int) -> pd.DataFrame:
    from tap.advantages import Objective
    from tap.features.compute import build_features
    from tap.rollouts import rollout_cohorts

    r = config.rollout
    rollouts = rollout_cohorts(
        policy,
        pool,
        num_generations=r.num_generations,
        max_new_tokens=r.max_new_tokens,
        temperature=r.temperature,
        seed=seed,
        prompts_per_batch=max(1, r.batch_size // r.num_generations),
    )
    return build_features(rollouts, families | {"R"}, items=pool, policy=policy, probe=probe,
                          objective=Objective.of(config.label)).set_index("cohort_id")


def _advance(policy, state_dir: Path, cohort: pd.DataFrame, settings: dict, seed: int) -> None:
    """GRPO-train the chosen cohort from the state's weights with `seed` (a fresh optimizer, as a
    label run has), in place."""
    from tap.labels.trl_run import LabelUnit, train_cohort

    unit = LabelUnit(
        str(cohort.cohort_id.iloc[0]),
        seed,
        tuple(cohort.prompt),
        tuple(cohort.gold),
        str(state_dir),
        (),
        {},
        settings,
        "choice",
    )
    train_cohort(unit, policy.model, policy.tokenizer, prompt_format=policy.prompt_format)
    policy.model.eval()


def run_seed(
    loop_seed: int, config, world, prior: tuple[Callable, str, list[str]], label_state: LabelState, work_dir: Path,
    *, families: set[str], tap_families: set[str] = frozenset({"R"}), progress: Callable[[], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """One loop seed: T states along the followed arm's path. `families`: the feature families read at
    every state; `tap_families`: those the TAP arm's prior reads (what it pays for). Returns (one row
    per state and arm, with its price; one row per state and candidate)."""
    from tap.experiments.loop import candidates
    from tap.policy.hf import HFPolicy

    lp = config.loop
    arms = list(lp.choice_arms)
    follow = lp.follow if lp.follow in arms else arms[0]
    settings = {**config.label.model_dump(mode="json"), "steps": lp.train_steps}
    policy = HFPolicy.from_pretrained(world.policy_dir, batch_size=config.rollout.batch_size)
    tap = ResidualRefit(prior[0], prior[1], prior[2], lp.refit_after)
    state_dir = Path(world.policy_dir)
    arm_rows, candidate_rows = [], []
    for step in range(lp.steps):
        pool = candidates(config, world.items, loop_seed, step, lp.candidates)
        ids = list(dict.fromkeys(pool.cohort_id))
        features = _features(policy, pool, config, world.probe, families, seed=1000 * loop_seed + step).loc[ids]
        labels = label_state(state_dir, pool, lp.train_steps, lp.oracle_seeds, 0)
        oracle = labels.groupby("cohort_id").value.mean().reindex(ids)
        if oracle.isna().any():
            raise RuntimeError(
                f"loop seed {loop_seed} step {step + 1}: no oracle label for {list(oracle[oracle.isna()].index)}"
            )
        short = pd.Series(np.nan, index=ids, dtype=float)
        short_costs = pd.DataFrame(np.nan, index=ids, columns=["seconds", "flops"])
        asked: set[str] = set()

        def run_short(indices: list[int]) -> np.ndarray:
            """Short runs of these candidates from this state, each run once whoever asks."""
            missing = [ids[i] for i in indices if ids[i] not in asked]
            if missing:
                asked.update(missing)
                rows = label_state(
                    state_dir, pool[pool.cohort_id.isin(missing)], lp.short_run_steps, 1, lp.oracle_seeds
                ).set_index("cohort_id")
                short.loc[missing] = rows.value.reindex(missing).to_numpy(float)
                for column, name in (("wall_seconds", "seconds"), ("flops", "flops")):
                    if column in rows:
                        short_costs.loc[missing, name] = rows[column].reindex(missing).to_numpy(float)
            return short.iloc[indices].to_numpy(float)

        if "short_run" in arms:
            run_short(list(range(len(ids))))
        parts = state_costs(features)
        tap_scores = tap.score(features) if any(a == "tap" or cascade_top(a) for a in arms) else None
        chooser = random.Random(f"choice-random-{loop_seed}-{step}")
        picks = {}
        for arm in arms:
            ran = ids if arm == "short_run" else []
            if arm == "random":
                index, name, scores = chooser.randrange(len(ids)), "uniform", np.full(len(ids), np.nan)
            elif (k := cascade_top(arm)) is not None:
                index, scores, top = cascade_pick(tap_scores[0], run_short, k)
                name, ran = f"{tap_scores[1]}, then a short run on its top {k}", [ids[i] for i in top]
            else:
                scores, name = tap_scores if arm == "tap" else arm_scores(arm, features, short, tap,
                                                                          lp.gradient_feature)
                index = int(np.argmax(np.nan_to_num(np.asarray(scores, float), nan=-np.inf)))
            picks[arm] = index
            arm_rows.append({"loop_seed": loop_seed, "step": step + 1, "arm": arm, "chosen": ids[index], "scorer": name,
                             "score": float(scores[index]), **judge(oracle.to_numpy(), index),
                             **arm_price(arm, parts, tap_families, short_costs, ran)})
            for cohort_id, s in zip(ids, scores):
                candidate_rows.append(
                    {"loop_seed": loop_seed, "step": step + 1, "cohort_id": cohort_id, "arm": arm, "score": float(s)}
                )
        chosen = ids[picks[follow]]
        for cohort_id in ids:
            runs = labels[labels.cohort_id == cohort_id].sort_values("seed")
            candidate_rows.append(
                {
                    "loop_seed": loop_seed,
                    "step": step + 1,
                    "cohort_id": cohort_id,
                    "arm": "oracle",
                    "score": float(oracle[cohort_id]),
                    "seed_values": runs.value.to_list(),
                    "followed": cohort_id == chosen,
                    "seconds": float(runs.wall_seconds.sum()) if "wall_seconds" in runs else float("nan"),
                    "flops": float(runs.flops.sum()) if "flops" in runs else float("nan"),
                }
            )
        realized = labels[(labels.cohort_id == chosen) & (labels.seed == 0)].value
        tap.observe(features.loc[[chosen]], float(realized.iloc[0]))
        _advance(policy, state_dir, pool[pool.cohort_id == chosen], settings, seed=0)
        state_dir = work_dir / f"seed{loop_seed}" / f"state{step + 1}"
        _save_state(policy.model, world.policy_dir, state_dir)
        if progress:
            progress()
    return arm_rows, candidate_rows


def summarize(table: pd.DataFrame, *, resamples: int = 1000, seed: int = 0) -> dict:
    """Per arm: mean regret, mean rank and the share of the oracle's gain (Σ gain / Σ best gain)
    over all states, with 95% bootstrap intervals over loop seeds; its mean price per state (seconds,
    FLOPs, short runs; and as a share of the short-run arm's) where the table has prices; and each
    arm's regret minus random's and minus TAP's, paired by state."""
    seeds = np.array(sorted(table.loop_seed.unique()))
    by_seed = {s: table[table.loop_seed == s] for s in seeds}
    draws = [seeds[idx] for idx in resample_indices(len(seeds), resamples, seed)]

    def stat(fn: Callable[[pd.DataFrame], float]) -> dict:
        return percentile_interval(fn(table), [fn(pd.concat([by_seed[s] for s in draw])) for draw in draws], key="mean")

    def fraction(rows: pd.DataFrame) -> float:
        total = rows.best_gain.sum()
        return float(rows.gain.sum() / total) if total > 0 else float("nan")

    arms = list(dict.fromkeys(table.arm))
    out = {
        "seeds": int(len(seeds)),
        "steps": int(table.step.max()),
        "states": int(table.groupby(["loop_seed", "step"]).ngroups),
        "arms": {},
        "paired_vs_random": {},
        "uniform": {},
    }
    for arm in arms:
        rows = table[table.arm == arm]
        out["arms"][arm] = {
            "regret": stat(lambda t, a=arm: t[t.arm == a].regret.mean()),
            "rank": stat(lambda t, a=arm: t[t.arm == a]["rank"].mean()),
            "fraction_of_oracle": stat(lambda t, a=arm: fraction(t[t.arm == a])),
            "scorers": sorted(rows.scorer.unique().tolist()),
        }
        if "seconds" in rows:  # measured at every state of this run (arm_price); older tables have no prices
            out["arms"][arm]["cost_per_state"] = {
                "seconds": float(rows.seconds.mean()), "flops": float(rows.flops.mean()),
                "short_runs": float(rows.short_runs.mean()),
            }
    short = out["arms"].get("short_run", {}).get("cost_per_state")
    if short and short["seconds"] > 0:
        for arm in arms:
            cost = out["arms"][arm].get("cost_per_state")
            if cost:
                cost["seconds_vs_short_run"] = cost["seconds"] / short["seconds"]
                cost["flops_vs_short_run"] = cost["flops"] / short["flops"] if short["flops"] > 0 else float("nan")
    first = table[table.arm == arms[0]]
    out["uniform"] = {"regret": float((first.best_value - first.mean_value).mean()), "fraction_of_oracle": 0.0}
    wide = table.pivot_table(index=["loop_seed", "step"], columns="arm", values="regret")
    for reference, key in (("random", "paired_vs_random"), ("tap", "paired_vs_tap")):
        if reference not in arms:
            continue
        out.setdefault(key, {})
        for arm in arms:
            if arm != reference:
                diff = (wide[arm] - wide[reference]).rename("d").reset_index()
                diff_by_seed = {s: diff[diff.loop_seed == s].d.to_numpy() for s in seeds}
                values = [np.concatenate([diff_by_seed[s] for s in draw]).mean() for draw in draws]
                out[key][arm] = {"regret": percentile_interval(diff.d.mean(), values, key="mean")}
    return out


def oracle_agreement(candidates: pd.DataFrame) -> dict:
    """How reliable the oracle is: per state, the Spearman correlation across candidates between
    the first two oracle seeds' labels; its mean over states (states where it is defined), and
    the number of states."""
    from scipy.stats import spearmanr

    rows = candidates[candidates.arm == "oracle"]
    rhos = []
    for _, state in rows.groupby(["loop_seed", "step"]):
        values = [list(v) for v in state.seed_values]
        if len(values) < 3 or min(len(v) for v in values) < 2:
            continue
        first, second = np.array([v[0] for v in values]), np.array([v[1] for v in values])
        if np.ptp(first) > 0 and np.ptp(second) > 0:
            rhos.append(float(spearmanr(first, second).statistic))
    return {"mean_spearman_between_seeds": float(np.mean(rhos)) if rhos else float("nan"), "states": len(rhos),
            "states_undefined": int(rows.groupby(["loop_seed", "step"]).ngroups - len(rhos))}
