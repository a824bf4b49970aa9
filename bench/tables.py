"""Markdown tables of a study's committed results, as README.md and docs/ quote them.

The tables are generated, never typed: rerun this after `python bench/demo.py` refreshes
docs/results/default-study/ and paste its output where the docs show the tables. From metrics.json:
readme, ranking, selection, lodo, coverage, noise, costs; from the other files of the same folder:
correlations (features.parquet, predictions.parquet's subjects, labels_summary.json's labels; docs/features.md),
loop (loop.json) and intervention (intervention.json; docs/loop.md). `--cite` names the source file in
each table's first header cell, so the docs' figure checker (tests/unit/test_readme_figures.py) checks it.

    python bench/tables.py [--metrics docs/results/default-study/metrics.json] [--table NAME ...] [--cite]
    python bench/tables.py --refresh README.md docs/*.md    # every marked table, from the file it cites
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUPS = ["tap", "measured", "gradient", "feature", "random"]


def ci(metric: dict | None, digits: int = 2, scale: float = 1.0, interval: bool = True) -> str:
    if not metric or metric.get("value") is None:
        return "—"
    text = f"{metric['value'] * scale:.{digits}f}"
    if interval and metric.get("lo") is not None and metric.get("hi") is not None:
        text += f" [{metric['lo'] * scale:.{digits}f}, {metric['hi'] * scale:.{digits}f}]"
    return text.replace("-", "−")


def rho(entry: dict) -> float:
    """The headline ρ: grouped K-fold (metrics from before it existed: LOCO)."""
    m = entry.get("metrics", {})
    value = (m.get("kfold_spearman") or m.get("loco_spearman") or {}).get("value")
    return -9.0 if value is None else value


def kfold(metrics: dict) -> bool:
    return "protocol" in metrics


def ordered(metrics: dict) -> list[dict]:
    return sorted(metrics["scorers"], key=lambda e: (GROUPS.index(e["group"]), -rho(e)))


def cost(entry: dict) -> str:
    seconds = entry.get("cost_seconds")
    return "0" if entry["group"] == "random" else ("—" if seconds is None else f"{seconds:.3g}")


def table(head: list[str], rows: list[list[str]]) -> str:
    """A markdown table; a "|" inside a cell (a scorer named "… | within subject") is escaped."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows])


def readme(metrics: dict) -> str:
    """The configured TAP, the other TAP variants, the best single feature and gradient score, measured lift, random."""
    entries = ordered(metrics)
    best = lambda group: max((e for e in entries if e["group"] == group), key=rho)  # noqa: E731
    chosen = [e for e in entries if e["group"] == "tap"] + [best("feature"), best("gradient")]
    chosen += [e for e in entries if e["name"].startswith("short run")]
    chosen += [e for e in entries if e["name"] == "measured lift, 1 seed"] + [
        e for e in entries if e["group"] == "random"
    ]
    q = round(100 * metrics["top_q"])
    rows = []
    for e in chosen:
        name = e["name"] + (" (the configured default)" if e["name"] == metrics.get("headline") else "")
        name += (
            " (best single feature)"
            if e is best("feature")
            else (" (best gradient score)" if e is best("gradient") else "")
        )
        m = e["metrics"]
        if kfold(metrics):
            paired = metrics["paired"].get("minus_headline", {})
            rows.append(
                [
                    name,
                    cost(e),
                    ci(m.get("kfold_spearman")),
                    ci(paired.get(e["name"])),
                    ci(m.get("heldout_spearman"), interval=False),
                    ci(m.get("top_fraction_of_oracle")),
                ]
            )
        else:
            rows.append([name, cost(e), ci(m.get("loco_spearman")), ci(m.get("heldout_spearman"), interval=False),
                         ci(m.get("top_fraction_of_oracle"))])
    if kfold(metrics):
        return table(
            [
                "scorer",
                "s / cohort",
                "K-fold ρ",
                "− configured (paired)",
                "ρ vs held-out seed",
                f"top-{q}% fraction of oracle",
            ],
            rows,
        )
    return table(["scorer", "s / cohort", "LOCO ρ", "ρ vs held-out seed", f"top-{q}% fraction of oracle"], rows)


def ranking(metrics: dict) -> str:
    if kfold(metrics):
        rows = [
            [
                e["name"],
                cost(e),
                ci(e["metrics"].get("kfold_spearman")),
                ci(e["metrics"].get("kfold_pairwise_accuracy")),
                ci(e["metrics"].get("loco_spearman")),
                ci(e["metrics"].get("lodo_spearman")),
                ci(e["metrics"].get("lodo_gap")),
                ci(e["metrics"].get("rho_over_ceiling")),
            ]
            for e in ordered(metrics)
        ]
        return table(
            [
                "scorer",
                "s / cohort",
                "K-fold ρ",
                "K-fold pairwise",
                "LOCO ρ",
                "LODO ρ (pooled)",
                "LODO gap",
                "ρ / ceiling",
            ],
            rows,
        )
    rows = [
        [
            e["name"],
            cost(e),
            ci(e["metrics"].get("loco_spearman")),
            ci(e["metrics"].get("loco_pearson")),
            ci(e["metrics"].get("pairwise_accuracy")),
            ci(e["metrics"].get("lodo_spearman")),
            ci(e["metrics"].get("lodo_gap")),
            ci(e["metrics"].get("rho_over_ceiling")),
        ]
        for e in ordered(metrics)
    ]
    return table(
        ["scorer", "s / cohort", "LOCO ρ", "LOCO r", "pairwise acc.", "LODO ρ (pooled)", "LODO gap", "ρ / ceiling"],
        rows,
    )


def selection(metrics: dict) -> str:
    rows = [[e["name"], ci(e["metrics"].get("top_selected"), 1, 1e3, False), ci(e["metrics"].get("top_gain"), 1, 1e3),
             ci(e["metrics"].get("top_gain_vs_measured"), 1, 1e3), ci(e["metrics"].get("top_fraction_of_oracle")),
             ci(e["metrics"].get("heldout_spearman"), interval=False)] for e in ordered(metrics)]
    return table(
        [
            "scorer",
            "selected ×1e3",
            "gain vs random ×1e3",
            "gain − measured ×1e3",
            "fraction of oracle",
            "ρ vs held-out seed",
        ],
        rows,
    )


def lodo(metrics: dict) -> str:
    entries = [e for e in ordered(metrics) if e.get("lodo_per_subject")]
    subjects = sorted({s for e in entries for s in e["lodo_per_subject"]})
    rows = []
    for e in entries:
        cells = []
        for s in subjects:
            part = e["lodo_per_subject"].get(s)
            gap = (part or {}).get("gap", {}).get("value")
            cells.append(
                "—"
                if part is None
                else f"{ci(part['lodo_spearman'])} ({'—' if gap is None else f'{gap:+.2f}'.replace('-', '−')})"
            )
        rows.append([e["name"], *cells])
    return table(["scorer", *subjects], rows)


def coverage(metrics: dict) -> str:
    rows = []
    for e in ordered(metrics):
        cov = e.get("coverage")
        if cov:
            width = "—" if cov.get("mean_width") is None else f"{cov['mean_width']:.4f}"
            rows.append([e["name"], ci(cov["coverage"]), width, str(cov.get("unbounded", 0))])
    level = round(100 * metrics["interval_level"])
    where = "K-fold repeat 0" if kfold(metrics) else "LOCO"
    return table(["TAP scorer", f"{level}% interval coverage ({where})", "mean width (bounded)", "unbounded"], rows)


def noise(metrics: dict) -> str:
    """Single-seed reliability r1, the S-seed label's ceiling √R_S (Spearman–Brown) and its projection over seeds."""
    n = metrics["noise"]
    seeds = sorted(n["projection"], key=int)
    rows = [
        ["single-seed reliability r1", ci(n["single_seed_reliability"])],
        [f"ceiling √R_{n['seeds']} of the {n['seeds']}-seed label", ci(n["ceiling"])],
        [f"projected ceiling √R_S, S = {seeds[0]}…{seeds[-1]}", ", ".join(f"{n['projection'][k]:.3f}" for k in seeds)],
    ]
    return table(["noise", "value [interval]"], rows)


def costs(metrics: dict) -> str:
    """Cost per cohort, one row per distinct cost; the single features named by family (tags from the
    importance rows)."""
    tags = {row["feature"]: row["tag"] for row in metrics.get("importance", {}).get("rows", [])}
    groups: dict[tuple, list[dict]] = {}
    for e in ordered(metrics):
        if e["group"] != "random" and e.get("cost_seconds") is not None:
            groups.setdefault((e["cost_seconds"], e.get("cost_flops")), []).append(e)
    rows = []
    for (seconds, flops), entries in sorted(groups.items(), key=lambda item: item[0][0]):
        names = [e["name"] for e in entries if e["group"] in ("tap", "measured")]
        features = [e["name"] for e in entries if e["group"] == "feature"]
        for tag in ("R", "F"):
            family = {f for f, t in tags.items() if t == tag}
            if family and family <= set(features):
                names.append(f"every {tag} feature")
                features = [f for f in features if f not in family]
        names += features
        names += list(dict.fromkeys(f"`{e['name'].rsplit('_', 1)[0]}_*`" for e in entries if e["group"] == "gradient"))
        rows.append(["; ".join(names), f"{seconds:.3g}", "—" if flops is None else f"{flops / 1e9:.1f}"])
    return table(["scorers", "s / cohort", "GFLOP / cohort"], rows)


TABLES = {"readme": readme, "ranking": ranking, "selection": selection, "lodo": lodo, "coverage": coverage,
          "noise": noise, "costs": costs}


def signed(value: float | None, digits: int = 4) -> str:
    return "—" if value is None or value != value else f"{value:+.{digits}f}".replace("-", "−")


def interval(part: dict, key: str = "mean", digits: int = 4) -> str:
    return f"{signed(part[key], digits)} [{signed(part.get('lo'), digits)}, {signed(part.get('hi'), digits)}]"


def correlations(folder: Path) -> str:
    """Spearman ρ between each feature and the S-seed lift label over the cohorts where the feature is
    defined (pairwise NaN drop), over all cohorts and within each cohort subject (from predictions.parquet;
    mixed last); rows by |ρ| over all cohorts. Constant within a subject: —."""
    import warnings

    import pandas as pd

    features = pd.read_parquet(folder / "features.parquet")
    labels = pd.DataFrame(json.loads((folder / "labels_summary.json").read_text())["labels"])[["cohort_id", "label"]]
    subjects = pd.read_parquet(folder / "predictions.parquet", columns=["cohort_id", "subject"]).drop_duplicates(
        "cohort_id"
    )
    data = features.merge(labels, on="cohort_id").merge(subjects, on="cohort_id", how="left")
    skip = {"cohort_id", "undefined", "head_tied", "grad_projection_dim"}
    columns = [
        c
        for c in features.columns
        if c not in skip and not c.startswith("cost_") and pd.api.types.is_numeric_dtype(features[c])
    ]
    order = sorted(s for s in data.subject.dropna().unique() if s != "mixed") + (
        ["mixed"] if (data.subject == "mixed").any() else []
    )
    parts = {f"all ({len(data)})": data} | {
        f"{s} ({(data.subject == s).sum()})": data[data.subject == s] for s in order
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a feature constant within a subject has no ρ there
        rhos = pd.DataFrame(
            {name: part[columns].corrwith(part["label"], method="spearman") for name, part in parts.items()}
        )
    rhos = rhos.reindex(rhos.iloc[:, 0].abs().sort_values(ascending=False, kind="stable").index)
    rows = [[feature, *(signed(v, 2) for v in row)] for feature, row in rhos.iterrows()]
    return table(["feature", *rhos.columns], rows)


def loop(folder: Path) -> str:
    """The closed loop's cumulative lift of its target per arm (mean [95% t-interval] over loop seeds) and each
    arm minus random and minus the reward filter, paired by seed (loops run before the target was configurable
    measured the probe-NLL drop)."""
    summary = json.loads((folder / "loop.json").read_text())
    arms = sorted(summary["arms"], key=lambda a: (a != "random", a))
    target = summary.get("target")
    references = [("random", "paired_vs_random")] + ([("reward_filter", "paired_vs_reward_filter")] if target else [])
    rows = [
        [
            arm,
            interval(summary["arms"][arm]),
            *(interval(summary[key][arm]) if arm in summary.get(key, {}) else "—" for _, key in references),
        ]
        for arm in arms
    ]
    return table(["arm", f"cumulative {target}" if target else "cumulative drop",
                  *(f"minus {ref.replace('_', ' ')} (paired by seed)" for ref, _ in references)], rows)


def intervention(folder: Path) -> str:
    """Least-squares slope of lift on frac_nondegenerate (achieved on fresh rollouts, and the design's target
    k / size), with its 95% bootstrap interval and per subject. The header says "interval" only: the level is
    not in intervention.json."""
    summary = json.loads((folder / "intervention.json").read_text())
    subjects = summary["subjects"]
    what = {
        "achieved": "achieved frac_nondegenerate (fresh rollouts)",
        "target": "target frac_nondegenerate (k / cohort size)",
    }
    rows = [[what[key], str(summary[key]["cohorts"]), interval(summary[key], "slope"),
             *(signed(summary[key]["per_subject"].get(s)) for s in subjects)] for key in ("achieved", "target")]
    return table(["lift regressed on", "cohorts", "slope [interval]", *subjects], rows)


def _evidence(folder: Path) -> dict:
    return json.loads((folder / "evidence.json").read_text())


def _ev(part: dict | None, digits: int = 2, scale: float = 1.0) -> str:
    """'value [lo, hi]' of an evidence.json triplet (signed when digits > 2)."""
    if not part or part.get("value") is None:
        return "—"
    fmt = (
        (lambda v: signed(v * scale, digits)) if digits > 2 else (lambda v: f"{v * scale:.{digits}f}".replace("-", "−"))
    )
    ends = (
        f" [{fmt(part['lo'])}, {fmt(part['hi'])}]" if part.get("lo") is not None and part.get("hi") is not None else ""
    )
    return fmt(part["value"]) + ends


def evidence_targets(folder: Path) -> str:
    """Per target: mean label, share of cohorts improving, across/within seed std, r1 and the ceiling √R_S."""
    ev = _evidence(folder)
    rows = [
        [
            t,
            _ev(e["mean"], 4),
            _ev(e["share_improving"]),
            _ev(e["across_over_within"]),
            _ev(e["single_seed_reliability"]),
            _ev(e["ceiling"]),
        ]
        for t, e in ev["targets"].items()
    ]
    return table(["target", "mean label", "share improving", "across / within seed std", "r1", "ceiling √R_S"], rows)


def evidence_correlations(folder: Path) -> str:
    """Spearman ρ between the targets' cohort labels, over all cohorts and within each cohort subject."""
    ev = _evidence(folder)["target_correlations"]
    pairs = [k for k in ev["all"] if k != "cohorts"]
    rows = [[f"{group} ({entry['cohorts']})", *(_ev(entry.get(pair)) for pair in pairs)] for group, entry in ev.items()]
    return table(["cohorts", *pairs], rows)


def evidence_own(folder: Path) -> str:
    """Single-subject cohorts: lift on the own subject's probe items and on the others', and their parts of the lift."""
    ev = _evidence(folder)["own_and_other"]
    rows = [[t, str(e["cohorts"]), _ev(e["own"], 4), _ev(e["other"], 4), _ev(e["own_part"], 4), _ev(e["other_part"], 4),
             f"{100 * e['share_own_improving']:.0f}%"] for t, e in ev.items()]
    return table(
        ["target", "cohorts", "own subject", "other subjects", "own part of the lift", "other part", "own improving"],
        rows,
    )


def evidence_kinds(folder: Path) -> str:
    """Single-subject cohorts by kind (clean, systematic error, random wrong golds, duplicates or off-format):
    own-subject lift_pass with its interval, the share of cohorts raising it, per subject, and the other
    subjects' mean."""
    ev = _evidence(folder).get("own_by_kind", {}).get("lift_pass", {})
    subjects = sorted({s for e in ev.values() for s in e["per_subject"]})
    rows = []
    for kind in ("clean", "systematic", "random_wrong", "duplicate_or_off_format"):
        if kind not in ev:
            continue
        e = ev[kind]
        per = [
            f"{e['per_subject'][s]['own']:+.4f} ({e['per_subject'][s]['cohorts']})".replace("-", "−")
            if s in e["per_subject"]
            else "—"
            for s in subjects
        ]
        rows.append(
            [
                kind,
                str(e["cohorts"]),
                _ev(e["own"], 4),
                _ev(e["share_own_improving"], 2),
                *per,
                f"{e['other']:+.4f}".replace("-", "−"),
            ]
        )
    return table(
        [
            "cohorts' kind",
            "cohorts",
            "own-subject lift_pass",
            "share raising it",
            *(f"{s} (cohorts)" for s in subjects),
            "other subjects",
        ],
        rows,
    )


def evidence_variance(folder: Path) -> str:
    """Share of the label's variance across cohorts explained (in-sample R²), and the oracle-knob model's LOCO ρ."""
    ev = _evidence(folder)["variance_explained"]
    groups = ["subject", "vendor", "knobs", "subject + vendor + knobs"]
    r2 = lambda part: f"{part['value']:.2f} ({part['adjusted']:.2f})".replace("-", "−")  # noqa: E731
    rows = [
        [
            t,
            *(r2(e["r2"][g]) for g in groups),
            _ev(e["oracle_knob_loco_spearman"]["ridge"]),
            _ev(e["oracle_knob_loco_spearman"]["gbm"]),
        ]
        for t, e in ev.items()
    ]
    return table(
        ["target", *(f"R² (adjusted) {g}" for g in groups), "oracle-knob ridge LOCO ρ", "oracle-knob gbm LOCO ρ"], rows
    )


def evidence_linearization(folder: Path) -> str:
    """Spearman ρ of the first-order predictions with the actual lift after h steps: (a) TRL's own first-step
    completions, pooled over units; (b) `tap rollout` completions, per cohort against the seed mean."""
    ev = _evidence(folder)["linearization"]
    rows = []
    for source, label in (("a", "(a) TRL's completions"), ("b", "(b) tap rollout")):
        for step, targets in sorted(ev[source].items(), key=lambda kv: int(kv[0])):
            for target, e in targets.items():
                ratio = e.get("actual_over_adam_median")
                rows.append(
                    [label, step, target, _ev(e["adam"]), _ev(e["dot"]), "—" if ratio is None else f"{ratio:.2f}"]
                )
    return table(["g_c from", "steps", "target", "Adam-aware ρ", "lr·grad_dot ρ", "actual / Adam-aware (median)"], rows)


def evidence_scorers(folder: Path) -> str:
    """Per target: the configured TAP, the best TAP variant, the best single feature and gradient score, the
    short runs, measured lift on one seed, random — ρ with the held-out seed, top-10% fraction of oracle, cost."""
    rows = []
    for target in ("lift_nll", "delta_accuracy", "lift_pass"):
        path = folder / f"metrics_{target}.json"
        if not path.exists():
            continue
        metrics = json.loads(path.read_text())
        entries = ordered(metrics)
        best = lambda group: max((e for e in entries if e["group"] == group), key=rho)  # noqa: E731
        picks = [e for e in entries if e["name"] == metrics.get("headline")] + [
            best("tap"),
            best("feature"),
            best("gradient"),
        ]
        picks += [e for e in entries if e["group"] == "measured"] + [e for e in entries if e["group"] == "random"]
        seen = set()
        for e in picks:
            if e["name"] in seen:
                continue
            seen.add(e["name"])
            m = e["metrics"]
            rows.append(
                [
                    target,
                    e["name"],
                    cost(e),
                    ci(m.get("loco_spearman")),
                    ci(m.get("heldout_spearman"), interval=False),
                    ci(m.get("top_fraction_of_oracle")),
                ]
            )
    return table(["target", "scorer", "s / cohort", "LOCO ρ", "ρ vs held-out seed", "top-10% fraction of oracle"], rows)


def learning_curve(folder: Path) -> str:
    """ρ with a held-out seed (mean over subsamples [2.5–97.5% spread]) per number of labelled cohorts."""
    curve = json.loads((folder / "learning_curve.json").read_text())
    sizes = [str(m) for m in curve["sizes"]]
    last = sizes[-1]
    names = sorted(curve["curves"], key=lambda k: -curve["curves"][k]["sizes"][last]["rho"]["value"])
    rows = [[name + (" (the configured default)" if name == curve.get("configured") else ""),
             *(ci(curve["curves"][name]["sizes"][m]["rho"], interval=m in (sizes[0], last)) for m in sizes),
             ci(curve["curves"][name]["sizes"][last]["oracle"], interval=False)] for name in names]
    return table(["scorer", *(f"ρ at {m}" for m in sizes), f"top-10% of oracle at {last}"], rows)


def choice(folder: Path) -> str:
    """Per-step choice quality (`tap choice`): per arm, mean regret to the best candidate, the same minus
    random's and minus TAP's (paired by state), mean rank of the chosen candidate (1 = best) and the share of
    the oracle's gain over the candidates' mean; 95% bootstrap intervals over loop seeds."""
    summary = json.loads((folder / "choice.json").read_text())
    arms = sorted(summary["arms"], key=lambda a: summary["arms"][a]["regret"]["mean"])
    rows = []
    for arm in arms:
        part = summary["arms"][arm]
        paired = [summary.get(key, {}).get(arm, {}).get("regret") for key in ("paired_vs_random", "paired_vs_tap")]
        cost = part.get("cost_per_state")
        prices = [f"{cost['seconds']:.1f}", f"{cost['flops'] / 1e9:.1f}",
                  f"{cost['flops_vs_short_run']:.2f}" if "flops_vs_short_run" in cost else "—"] if cost else []
        rows.append([arm, interval(part["regret"]), *(interval(p) if p else "—" for p in paired),
                     interval(part["rank"], digits=2).replace("+", ""), interval(part["fraction_of_oracle"], digits=2),
                     *prices])
    priced = any("cost_per_state" in part for part in summary["arms"].values())
    rows.append(
        [
            "(uniform expectation)",
            signed(summary["uniform"]["regret"]),
            "—",
            "—",
            f"{summary['uniform']['rank']:.2f}",
            "+0.00",
            *(["—"] * 3 if priced else []),
        ]
    )
    return table(
        [
            "arm",
            "regret",
            "minus random (paired by state)",
            "minus TAP (paired by state)",
            "rank of the chosen (1 = best)",
            "share of the oracle's gain",
            *(["seconds / state", "GFLOPs / state", "FLOPs / short run's"] if priced else []),
        ],
        rows,
    )


def active_labeling(folder: Path) -> str:
    """Active vs random labeling order on a replayed battery: the configured predictor's ρ and top-10% fraction of
    the oracle on held-out cohorts per number of labelled cohorts (mean over repetitions; paired difference with its
    95% t-interval)."""
    result = json.loads((folder / "active_labeling.json").read_text())
    rows = []
    for n, part in sorted(result["curve"].items(), key=lambda kv: int(kv[0])):
        if int(n) % 16 and int(n) != max(map(int, result["curve"])):
            continue
        rows.append(
            [
                n,
                str(part["label_runs"]),
                signed(part["active_rho"]["mean"], 3),
                signed(part["random_rho"]["mean"], 3),
                interval(part["paired_rho"], digits=3),
                signed(part["active_oracle"]["mean"], 3),
                signed(part["random_oracle"]["mean"], 3),
                interval(part["paired_oracle"], digits=3),
            ]
        )
    return table(["cohorts labelled", "label runs", "ρ active", "ρ random", "ρ active − random", "top-10% active",
                  "top-10% random", "top-10% active − random"], rows)


def _policy_rows(folder: Path, every: bool = False) -> list[tuple[dict, dict | None]]:
    """(probe row, behaviour row) per subject of tiny_policy.json; `every` keeps rows without a behaviour row
    (the mean over subjects), with None."""
    info = json.loads((folder / "tiny_policy.json").read_text())
    behaviours = {row["subject"]: row for row in info["behaviour_table"]}
    return [(row, behaviours.get(row["subject"])) for row in info["probe_table"]
            if every or row["subject"] in behaviours]


def policy(folder: Path) -> str:
    """The tiny policy on the probe: greedy accuracy, gold NLL, P(correct) and P(wrong behaviour) where the two
    behaviours disagree (sampling at temperature 1), pass@1 and pass@8 (tiny_policy.json)."""
    rows = [[probe["subject"], f"{probe['accuracy']:.3f}", f"{probe['gold_nll']:.3f}",
             f"{b['p_correct_divergent']:.3f}", f"{b['p_wrong_divergent']:.3f}", f"{b['pass_1']:.3f}",
             f"{b['pass_8']:.3f}"] for probe, b in _policy_rows(folder)]
    return table(["subject", "probe accuracy", "gold-answer NLL (nats/token)", "P(correct)", "P(wrong behaviour)",
                  "pass@1", "pass@8"], rows)


def behaviours(folder: Path) -> str:
    """The tiny policy's behaviours: the share of probe items where the correct and the wrong behaviour disagree,
    the probability of each there, greedy accuracy, pass@1 and pass@8 (tiny_policy.json)."""
    rows = [[probe["subject"], f"{b['divergent']:.2f}", f"{b['p_correct_divergent']:.3f}",
             f"{b['p_wrong_divergent']:.3f}", f"{b['greedy_accuracy']:.3f}", f"{b['pass_1']:.3f}",
             f"{b['pass_8']:.3f}"] for probe, b in _policy_rows(folder)]
    return table(["subject", "items where the behaviours disagree", "P(correct) there", "P(wrong behaviour) there",
                  "greedy accuracy", "pass@1", "pass@8"], rows)


def task_policy(folder: Path) -> str:
    """A world without behaviours (reasoning-gym): per task, greedy mean reward (the band's measure), gold NLL,
    greedy exact answers, pass@1 and pass@8 of the exact answer, and the mean over tasks (tiny_policy.json)."""
    rows = []
    for probe, b in _policy_rows(folder, every=True):
        exact = [f"{b[k]:.3f}" for k in ("greedy_accuracy", "pass_1", "pass_8")] if b else ["", "", ""]
        rows.append([probe["subject"], f"{probe['accuracy']:.3f}", f"{probe['gold_nll']:.3f}", *exact])
    return table(["task", "greedy mean reward (the band's measure)", "gold-answer NLL (nats/token)",
                  "greedy exact answers", "pass@1 (exact)", "pass@8 (exact)"], rows)


def zoo_worlds(folder: Path) -> str:
    """The zoo's worlds (zoo.json): base policy, battery, label statistics and the noise ceiling of the seed mean."""
    worlds = json.loads((folder / "zoo.json").read_text())["worlds"]
    rows = []
    for name, w in sorted(worlds.items(), key=lambda kv: (kv[1]["test_world"], kv[0])):
        label = w["label"]
        rows.append([name, "test" if w["test_world"] else "development", w["policy_key"],
                     f"{w['cohorts']} × {w['seeds']}", str(w["item_groups"]),
                     f"{label['learning_rate']:g} × {label['steps']} steps, G {label['num_generations']}",
                     signed(w["mean_label"]), f"{w['share_improving']:.2f}", f"{w['single_seed_reliability']:.2f}",
                     f"{w['noise_ceiling']:.2f}", f"{w['stage_seconds'].get('labels', 0):.0f}",
                     f"{w['prompt_share_in_same_policy_worlds']:.2f}" if "prompt_share_in_same_policy_worlds" in w
                     else "—"])
    return table(["world", "role", "policy", "cohorts × seeds", "item groups", "labels (lr × steps, G)", "mean lift",
                  "share improving", "r1", "ceiling", "label s", "prompts also in its policy's other worlds"], rows)


def zoo_transfer(folder: Path) -> str:
    """Leave one world out (transfer.json): per held-out world, the zero-shot pooled predictor beside the world's
    own K-fold TAP, the zoo's best single and gradient signals (chosen on the other worlds) and head_align_dot."""
    record = json.loads((folder / "transfer.json").read_text())
    rows = []
    for name, w in sorted(record["worlds"].items(), key=lambda kv: (kv[1]["test_world"], kv[0])):
        s = w["scorers"]
        best, grad = s.get("zoo's best signal"), s.get("zoo's best gradient signal")
        best_name = w["chosen_signals"]["signal"]["column"] or "—"
        grad_name = w["chosen_signals"]["gradient"]["column"] or "—"
        zero = s["zero-shot TAP"]
        rows.append([f"{name}{' (test)' if w['test_world'] else ''}", ci(zero["rho"]), ci(zero["rho_within_folds"]),
                     ci(s.get("zero-shot TAP, policy held out", {}).get("rho")),
                     ci(s["own K-fold TAP"]["rho_within_folds"]), f"{ci((best or {}).get('rho'))} ({best_name})",
                     f"{ci((grad or {}).get('rho'))} ({grad_name})", ci(s.get("head_align_dot", {}).get("rho")),
                     ci(zero["top_fraction_of_oracle"]), f"{ci(zero['auroc_harm'])} ({w['share_harmful']:.2f})"])
    return table(["held-out world", "zero-shot ρ", "zero-shot ρ in folds", "policy held out ρ",
                  "own K-fold TAP ρ in folds", "zoo's best signal ρ", "best gradient signal ρ", "head_align_dot ρ",
                  "zero-shot top-10% / oracle", "zero-shot AUROC harm (share harmful)"], rows)


def zoo_paired(folder: Path) -> str:
    """Means over held-out worlds (transfer.json's summary): each scorer's ρ and the paired difference zero-shot
    TAP − that scorer (the worlds' group resamples drawn together)."""
    record = json.loads((folder / "transfer.json").read_text())
    rows = []
    for part in ("development", "test", "all"):
        if part not in record["summary"]:
            continue
        scorers = record["summary"][part]["scorers"]
        for name in sorted(scorers, key=lambda n: (n != "zero-shot TAP", n)):
            entry = scorers[name]
            rows.append([f"{part} ({len(record['summary'][part]['worlds'])})", name, ci(entry.get("rho")),
                         ci(entry.get("rho_within_folds")), ci(entry.get("rho_reference_minus_this")),
                         ci(entry.get("rho_within_folds_reference_minus_this")),
                         ci(entry.get("top_fraction_of_oracle")), ci(entry.get("auroc_harm"))])
    return table(["worlds", "scorer", "mean ρ", "mean ρ in folds", "zero-shot − this (ρ)",
                  "zero-shot − this (in folds)", "top-10% / oracle", "AUROC harm"], rows)


def zoo_readme(folder: Path) -> str:
    """The README's summary of transfer (transfer.json): mean ρ over held-out worlds of zero-shot TAP (leave one world
    out, and leave its policy out), the worlds' own K-fold TAP, head_align_dot and the zoo's best gradient signal,
    with the paired difference zero-shot − head_align_dot."""
    record = json.loads((folder / "transfer.json").read_text())
    rows = []
    for part in ("development", "test"):
        if part not in record["summary"]:
            continue
        s = record["summary"][part]["scorers"]
        rows.append([f"{part} ({len(record['summary'][part]['worlds'])})", ci(s["zero-shot TAP"]["rho"]),
                     ci(s.get("zero-shot TAP, policy held out", {}).get("rho")),
                     ci(s["own K-fold TAP"]["rho_within_folds"]), ci(s["head_align_dot"]["rho"]),
                     ci(s.get("zoo's best gradient signal", {}).get("rho")),
                     ci(s["head_align_dot"].get("rho_reference_minus_this")),
                     ci(s["zero-shot TAP"]["top_fraction_of_oracle"]), ci(s["zero-shot TAP"]["auroc_harm"])])
    return table(["held-out worlds", "zero-shot TAP ρ", "its policy held out too", "own K-fold TAP ρ (in folds)",
                  "head_align_dot ρ", "best gradient signal ρ", "zero-shot − head_align_dot",
                  "zero-shot top-10% / oracle", "zero-shot AUROC harm"], rows)


def zoo_adaptation(folder: Path) -> str:
    """The few-label curve (adaptation.json's summary): mean ρ over held-out worlds on the cohorts left unlabelled,
    per number of labelled cohorts k [2.5–97.5% over draws]."""
    record = json.loads((folder / "adaptation.json").read_text())
    rows = []
    for part in ("development", "test"):
        if part not in record["summary"]:
            continue
        for k, point in sorted(record["summary"][part]["curve"].items(), key=lambda kv: int(kv[0])):
            cells = [ci({"value": point[m]["mean"], "lo": point[m]["lo"], "hi": point[m]["hi"]})
                     if point[m]["draws"] else "—" for m in ("zero-shot", "shrunk", "scratch", "best signal",
                                                             "shrunk_minus_scratch")]
            rows.append([f"{part} ({point['shrunk']['worlds']})", k, *cells])
    return table(["worlds", "k labelled", "zero-shot", "shrunk to the pooled prediction", "scratch (own ridge R+F)",
                  "zoo's best signal", "shrunk − scratch"], rows)


def harm(folder: Path) -> str:
    """Per zoo world (harm.json): the gated predictor's K-fold ρ, ungated − gated (paired), and how well held-out
    P(lift < 0) finds lift < 0 (AUROC; Brier score beside the base rate's) against the reward-only heuristics."""
    data = json.loads((folder / "harm.json").read_text())
    rows = []
    for name, w in data["worlds"].items():
        gated = w["scorers"]["gated"]
        h = w["harm"][gated] or {}
        heur = w["harm_heuristics"]
        rows.append([
            name + (" (test)" if w["test_world"] else ""), f"{w['cohorts']} ({w['without_learning_signal']})",
            ci(w["kfold_spearman"][gated]), ci(w["ungated_minus_gated"]), ci(h.get("base_rate")), ci(h.get("auroc")),
            f"{h['brier']['value']:.3f} / {h['brier_base_rate']['value']:.3f}" if h else "—",
            ci(heur.get("low pass rate")), ci((w.get("auroc_minus_heuristic") or {}).get("low pass rate")),
            ci(heur.get("few non-degenerate groups")),
        ])
    return table(["world", "cohorts (without learning signal)", "gated TAP K-fold ρ", "ungated − gated (paired)",
                  "share lift < 0", "AUROC of P(lift < 0)", "Brier / base rate's", "AUROC low pass rate",
                  "P(lift < 0) − low pass rate (paired)", "AUROC few non-degenerate"], rows)


def _prior_data(folder: Path) -> tuple[dict, str]:
    data = json.loads((folder / "prior.json").read_text())
    return data, data["choice"]["chosen"]


PRIOR_REFERENCES = ("ridge R+F", "best feature R+F (in-fold)", "head_align_dot alone", "head_align_pass_dot alone")


def prior_kfold(folder: Path) -> str:
    """Per zoo world (prior.json): K-fold ρ of the chosen configured predictor, today's, the best single feature chosen
    in-fold and the label-free priors alone; the chosen one's paired differences and its ρ / noise ceiling."""
    data, chosen = _prior_data(folder)
    prior = data["protocol"]["candidates"][chosen].get("prior")
    rows = []
    for name, w in data["worlds"].items():
        k, paired = w["kfold"], w["kfold"]["paired"].get(chosen, {})
        rows.append([name + (" (test)" if w["test_world"] else ""), str(w["cohorts"]), ci(k["noise_ceiling"]),
                     ci(k["kfold_spearman"][chosen]), *(ci(k["kfold_spearman"].get(r)) for r in PRIOR_REFERENCES
                                                       if r != chosen),
                     ci(paired.get("minus best feature R+F (in-fold)")),
                     ci(paired.get(f"minus {prior} alone")) if prior else "—", ci(k["rho_over_ceiling"][chosen])])
    return table(["world", "cohorts", "noise ceiling", f"{chosen} (configured)",
                  *(r + (" (before)" if r == "ridge R+F" else "") for r in PRIOR_REFERENCES if r != chosen),
                  "configured − best feature (paired)", "configured − its prior (paired)",
                  "configured ρ / ceiling"], rows)


def prior_curve(folder: Path) -> str:
    """Per zoo world and k labelled cohorts (prior.json): mean ρ over draws on the cohorts left, with intervals over
    item groups; the chosen configured predictor against the best feature chosen on the k and its prior."""
    data, chosen = _prior_data(folder)
    prior = data["protocol"]["candidates"][chosen].get("prior")
    rows = []
    for name, w in data["worlds"].items():
        for k in ("0", "16", "64"):
            point = w["learning_curve"].get(k)
            if not point:
                continue
            rho_, paired = point["rho"], point["paired"].get(chosen, {})
            rows.append([name + (" (test)" if w["test_world"] else ""), k, ci(rho_.get(chosen)),
                         ci(rho_.get("ridge R+F")), ci(rho_.get("best feature R+F (in-fold)")),
                         ci(rho_.get(f"{prior} alone")) if prior else "—",
                         ci(paired.get("minus best feature R+F (in-fold)")),
                         ci(paired.get(f"minus {prior} alone")) if prior else "—"])
    return table(["world", "k labelled", f"{chosen} (configured)", "ridge R+F (before)",
                  "best feature R+F (on the k)", f"{prior} alone", "configured − best feature (paired)",
                  "configured − its prior (paired)"], rows)


def prior_choice(folder: Path) -> str:
    """The candidates' scores on the development worlds (prior.json's choice)."""
    data, chosen = _prior_data(folder)
    rows = [[name, f"{score:.3f}", "chosen" if name == chosen else ""]
            for name, score in data["choice"]["scores"].items()]
    return table(["candidate", f"mean over {len(data['choice']['development_worlds'])} development worlds of "
                  "(ρ at k = 16, K-fold ρ)", ""], rows)


def prior_signals(folder: Path) -> str:
    """The theory-signed scores' ρ with the label over the default world and within each of its subjects."""
    data, _ = _prior_data(folder)
    signals = data["worlds"]["tiny-default"]["signals"]
    parts = [p for p in next(iter(signals.values())) if p != "all"]
    rows = [[signal, ci(entry["all"]), *(ci(entry.get(p)) for p in parts)] for signal, entry in signals.items()]
    return table(["score on the default world (theory-signed)", "ρ over the world", *(f"ρ within {p}" for p in parts)],
                 rows)


def zoo_normalization(folder: Path) -> str:
    """Mean within-world ρ of leave-one-world-out predictions per normalization, on the development worlds only
    (the choice) and, for the record, per held-out world."""
    record = json.loads((folder / "transfer.json").read_text())
    choice = record["protocol"]["normalization"]
    rows = [[how, f"{rho:.2f}", "chosen" if how == choice["chosen"] else ""] for how, rho in choice["mean_rho"].items()]
    return table(["normalization", f"mean ρ over {len(choice['dev_worlds'])} development worlds", ""], rows)


FOLDER_TABLES = {
    "policy": policy,
    "task-policy": task_policy,
    "behaviours": behaviours,
    "choice": choice,
    "active-labeling": active_labeling,
    "correlations": correlations,
    "learning-curve": learning_curve,
    "loop": loop,
    "intervention": intervention,
    "evidence-targets": evidence_targets,
    "evidence-correlations": evidence_correlations,
    "evidence-own": evidence_own,
    "evidence-kinds": evidence_kinds,
    "evidence-variance": evidence_variance,
    "evidence-linearization": evidence_linearization,
    "evidence-scorers": evidence_scorers,
    "zoo-worlds": zoo_worlds,
    "zoo-readme": zoo_readme,
    "zoo-transfer": zoo_transfer,
    "zoo-paired": zoo_paired,
    "zoo-adaptation": zoo_adaptation,
    "zoo-normalization": zoo_normalization,
    "harm": harm,
    "prior-kfold": prior_kfold,
    "prior-curve": prior_curve,
    "prior-choice": prior_choice,
    "prior-signals": prior_signals,
}
SOURCES = {
    "policy": "tiny_policy.json",
    "task-policy": "tiny_policy.json",
    "behaviours": "tiny_policy.json",
    "choice": "choice.json",
    "active-labeling": "active_labeling.json",
    "correlations": "features.parquet",
    "learning-curve": "learning_curve.json",
    "loop": "loop.json",
    "intervention": "intervention.json",
    **dict.fromkeys(
        (
            "evidence-targets",
            "evidence-correlations",
            "evidence-own",
            "evidence-kinds",
            "evidence-variance",
            "evidence-linearization",
        ),
        "evidence.json",
    ),
    "evidence-scorers": "metrics_lift_nll.json",
    "zoo-worlds": "zoo.json",
    "zoo-readme": "transfer.json",
    "zoo-transfer": "transfer.json",
    "zoo-paired": "transfer.json",
    "zoo-adaptation": "adaptation.json",
    "zoo-normalization": "transfer.json",
    "harm": "harm.json",
    **dict.fromkeys(("prior-kfold", "prior-curve", "prior-choice", "prior-signals"), "prior.json"),
}


def cited(text: str, source: Path) -> str:
    """The first header cell of the text's first table gets the source file in parentheses."""
    try:
        source = source.resolve().relative_to(REPO)
    except ValueError:
        pass
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("| "))
    cells = lines[first].split(" | ", 1)
    lines[first] = f"{cells[0]} ({source}) | {cells[1]}" if len(cells) > 1 else lines[first]
    return "\n".join(lines)


MARKER = re.compile(r"<!-- ([\w-]+): python bench/tables.py[^>]*-->\n")
CITED = re.compile(r"^\|[^|(]*\(((?:docs|bench)/results/[^)]+)\)")


def refresh(document: Path) -> int:
    """Regenerate, in place, every table of `document` that follows a `<!-- NAME: python bench/tables.py
    ... -->` marker, from the file its first header cell cites (a metrics file, or the folder's file a
    folder table reads). Returns how many tables changed."""
    text = document.read_text()
    out, position, changed = [], 0, 0
    for marker in MARKER.finditer(text):
        name, start = marker.group(1), marker.end()
        end = start
        for line in text[start:].split("\n"):
            if not line.startswith("|"):
                break
            end += len(line) + 1
        old = text[start:end].rstrip("\n")
        source = CITED.match(old)
        if not old or source is None or name not in {**TABLES, **FOLDER_TABLES}:
            continue
        path = REPO / source.group(1)
        table_text = TABLES[name](json.loads(path.read_text())) if name in TABLES else FOLDER_TABLES[name](path.parent)
        new = cited(table_text, path).strip("\n")
        out += [text[position:start], new]
        position = start + len(old)
        changed += new != old
    document.write_text("".join(out) + text[position:])
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, default=REPO / "docs" / "results" / "default-study" / "metrics.json",
                        help="metrics.json; the other tables read their files from the same folder.")
    parser.add_argument(
        "--table", choices=[*TABLES, *FOLDER_TABLES], action="append", help="Which tables (default: all)."
    )
    parser.add_argument("--cite", action="store_true", help="Name the source file in each table's first header cell.")
    parser.add_argument("--refresh", type=Path, nargs="+", help="Regenerate the marked tables of these documents in "
                        "place, each from the file its first header cell cites.")
    args = parser.parse_args()
    if args.refresh:
        for document in args.refresh:
            print(f"{document}: {refresh(document)} tables changed")
        return
    metrics = json.loads(args.metrics.read_text())
    folder = args.metrics.parent
    default = [*TABLES, *(name for name in FOLDER_TABLES if (folder / SOURCES[name]).exists())]
    for name in args.table or default:
        if name in TABLES:
            text, source = TABLES[name](metrics), args.metrics
        else:
            text, source = FOLDER_TABLES[name](args.metrics.parent), args.metrics.parent / SOURCES[name]
        flag = " --cite" if args.cite else ""
        print(
            f"<!-- {name}: python bench/tables.py --table {name}{flag} "
            f"-->\n{cited(text, source) if args.cite else text}\n"
        )


if __name__ == "__main__":
    main()
