"""report.html: one self-contained page (Plotly's JavaScript inlined, no network) built from a run
folder's files alone: config.toml, metrics.json, predictions.parquet, features.parquet,
rollouts.parquet, cohorts.parquet, labels.sqlite and (when `tap study` wrote it) study.json.

The page checks itself: a small script records JavaScript errors, how many figures rendered and which
elements start on the first screen on `<body data-figures-rendered data-figures-expected data-errors
data-first-screen>`, which the browser tests read. The first screen answers: the cohorts the configured
predictor ranks first and last, and how far to trust that ranking (against the best free signal, random and
the noise ceiling); the full scorer table and the busier figures come below it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from tap.errors import TapInputError
import tap.report.experiment_figures as E
import tap.report.figures as F
from tap.report.answer import (
    answer_html, curve_shown, fmt, headline_table, show_few, shown_scorers, subset, trust_text,
)
from tap.store import RunPaths, write_text

SELF_CHECK = """<script>
window.__tapErrors = [];
window.addEventListener("error", function (e) { window.__tapErrors.push(String(e.message)); });
(function () { var original = console.error; console.error = function () {
  window.__tapErrors.push(Array.prototype.join.call(arguments, " ")); original.apply(console, arguments); }; })();
</script>"""
SELF_REPORT = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  var divs = document.querySelectorAll(".plotly-graph-div"), rendered = 0;
  divs.forEach(function (d) { if (d.querySelector(".main-svg")) { rendered += 1; } });
  document.body.setAttribute("data-figures-rendered", String(rendered));
  document.body.setAttribute("data-errors", JSON.stringify(window.__tapErrors));
  var first = [];  // the elements with an id that start inside the first screen (the browser test reads it)
  document.querySelectorAll("[id]").forEach(function (el) {
    var box = el.getBoundingClientRect();
    if (box.height > 0 && box.top < window.innerHeight) { first.push(el.id); } });
  document.body.setAttribute("data-first-screen", JSON.stringify(first));
}, 0); });
</script>"""
STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
td:first-child, th:first-child { text-align: left; } tr.tap td { font-weight: 600; }
.note { color: #555; font-size: 0.92em; } #ranked td { white-space: nowrap; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; } .completion { font-family: monospace; }
</style>"""


def _load(run_dir: Path) -> dict:
    paths = RunPaths(run_dir)
    needed = [paths.metrics, paths.predictions, paths.features, paths.rollouts, paths.config]
    missing = [p.name for p in needed if not p.exists()]
    if missing:
        raise TapInputError(f"{run_dir}: no {missing[0]} (a report needs a run folder after `tap evaluate`)")
    study = run_dir / "study.json"
    return {
        "metrics": json.loads(paths.metrics.read_text()),
        "predictions": pd.read_parquet(paths.predictions),
        "features": pd.read_parquet(paths.features),
        "rollouts": pd.read_parquet(paths.rollouts),
        "cohorts": pd.read_parquet(paths.cohorts) if paths.cohorts.exists() else None,
        "config": paths.config.read_text(),
        "study": json.loads(study.read_text()) if study.exists() else None,
        "loop": pd.read_parquet(run_dir / "loop.parquet") if (run_dir / "loop.parquet").exists() else None,
        "choice": json.loads((run_dir / "choice.json").read_text()) if (run_dir / "choice.json").exists() else None,
        "learning_curve": json.loads((run_dir / "learning_curve.json").read_text())
        if (run_dir / "learning_curve.json").exists()
        else None,
        "intervention": (
            (pd.read_parquet(run_dir / "intervention.parquet"), json.loads((run_dir / "intervention.json").read_text()))
            if (run_dir / "intervention.json").exists()
            else None
        ),
    }


def _example(data: dict, headline: str) -> tuple[str, pd.DataFrame] | None:
    """The cohort the configured predictor ranks first, with its rollouts and advantages."""
    from tap.advantages import group_advantages

    pred = data["predictions"]
    pred = pred[pred.scorer == headline]
    if pred.empty:
        return None
    row = pred.sort_values("pred", ascending=False).iloc[0]
    rollouts = data["rollouts"]
    example = rollouts[rollouts.cohort_id == row.cohort_id].sort_values(["position", "sample"]).copy()
    g = int(example.groupby("position").size().iloc[0])
    example["advantage"] = group_advantages(example.reward.to_numpy(), g)
    example["hover"] = [
        f"{html.escape(p)} → {html.escape(repr(t))}<br>answer {html.escape(repr(a))}, gold {html.escape(str(gold))}<br>"
        f"reward {r:.0f}, advantage {adv:+.2f}"
        for p, t, a, gold, r, adv in zip(
            example.prompt, example.text, example.answer, example.gold, example.reward, example.advantage
        )
    ]
    return str(row.cohort_id), example


def _example_html(data: dict, cohort_id: str, example: pd.DataFrame, headline: str) -> str:
    pred = data["predictions"]
    row = pred[(pred.scorer == headline) & (pred.cohort_id == cohort_id)].iloc[0]
    features = data["features"].set_index("cohort_id").loc[cohort_id]
    shown = [
        "pass_rate_mean",
        "frac_nondegenerate",
        "adv_std",
        "token_entropy_mean",
        "gold_nll",
        "probe_similarity",
        "grad_adam",
    ]
    feature_cells = "".join(
        f"<tr><td>{n}</td><td>{features[n]:.4f}</td></tr>" for n in shown if n in features and pd.notna(features[n])
    )
    items = example.groupby("position").first()
    item_rows = "".join(
        f"<tr><td>{p}</td><td class='completion'>{html.escape(r.prompt)}</td><td>{html.escape(str(r.gold))}</td>"
        f"<td>{example[example.position == p].reward.mean():.2f}</td></tr>" for p, r in items.iterrows()
    )
    return (
        f"<p>Cohort <b>{html.escape(cohort_id)}</b> ({html.escape(str(row.subject))}) is the one "
        f"{html.escape(headline)} ranks "
        f"first (held-out fold). Predicted lift {row.pred:+.4f} (interval [{row.pred_lo:+.4f}, {row.pred_hi:+.4f}]), "
        f"measured {row.label:+.4f} (mean over seeds).</p>"
        "<div style='display:flex; gap:2em; align-items:flex-start'>"
        f"<table><tr><th>item</th><th>prompt</th><th>gold</th><th>pass rate</th></tr>{item_rows}</table>"
        f"<table><tr><th>feature</th><th>value</th></tr>{feature_cells}</table></div>"
    )


def _cost_html(data: dict) -> str:
    metrics, study = data["metrics"], data["study"]
    rows = ""
    if study:
        for name, stage in study["stages"].items():
            detail = html.escape(stage.get("detail", ""))
            rows += f"<tr><td>{name}</td><td>{stage['seconds']:.1f}</td><td>{detail}</td></tr>"
    label = metrics.get("label_run", {})
    label_text = (f"One label run: {label['seconds']:.2f} s and {label['flops']:.3g} FLOPs (mean over the ledger)."
                  if label.get("seconds") is not None else "")
    stages = f"<table><tr><th>stage</th><th>seconds</th><th>what</th></tr>{rows}</table>" if rows else ""
    return f"{stages}<p>{label_text} Evaluation: {metrics.get('evaluation_seconds', 0):.0f} s.</p>"


def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write RUN_DIR/report.html (or `out`) from the run folder's files; return its path."""
    import plotly.offline

    run_dir = Path(run_dir)
    data = _load(run_dir)
    metrics = data["metrics"]
    entries = {e["name"]: e for e in metrics["scorers"]}
    headline = metrics.get("headline") or next(e["name"] for e in metrics["scorers"] if e["group"] == "tap")
    focus = subset(metrics, 1, 3)  # busy figures show fewer lines
    pred = data["predictions"]
    labelled = data["features"].merge(pred[pred.scorer == headline][["cohort_id", "subject", "label"]], on="cohort_id")

    shown = shown_scorers(metrics, headline)
    figures: list[tuple[str, str, object]] = [
        ("trust", "How far to trust it", F.trust(trust_text(metrics, headline)[1], metrics["noise"]["ceiling"])),
        ("predicted", "Predicted vs actual lift", F.predicted_vs_actual(pred[pred.scorer == headline], headline)),
        ("frontier", "Cost–quality frontier", F.cost_frontier(metrics["scorers"])),
    ]
    example = _example(data, headline)
    if example:
        figures.append(("example", "A worked example", F.rollout_grid(example[1])))
    figures += [
        (
            "lodo",
            "Generalization to an unseen subject",
            show_few(F.lodo_per_subject([e for e in focus if e.get("lodo_per_subject")]), shown),
        ),
        ("spread", "Lift vs advantage spread", F.lift_vs_feature(labelled, "adv_std")),
        ("selection", "Selection curve", show_few(F.selection_curves(focus), shown)),
        ("ceiling", "Noise ceiling", F.noise_ceiling(metrics["noise"], entries.get(headline))),
    ]
    if metrics.get("importance"):
        figures.append(
            (
                "importance",
                "Feature importance",
                F.importances(metrics["importance"]["rows"], metrics["importance"]["scorer"]),
            )
        )
    if data["learning_curve"] is not None:
        curve = data["learning_curve"]
        figure = show_few(F.learning_curve(curve), curve_shown(curve))
        figures.append(("learning", "How many labelled cohorts", figure))
    if data["loop"] is not None:
        figures.append(("loop", "Closed loop", E.loop_curves(data["loop"])))
    if data["choice"] is not None:
        figures.append(("choice", "Choice quality, step by step", E.choice_quality(data["choice"])))
        if any("cost_per_state" in t for t in data["choice"]["arms"].values()):
            figures.append(("choice-cost", "Choice quality against cost", E.choice_cost(data["choice"])))
    if data["intervention"] is not None:
        figures.append(("intervention", "Causal intervention", E.intervention(*data["intervention"])))

    blocks = {
        key: (
            title,
            fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{key}", config={"displaylogo": False}),
        )
        for key, title, fig in figures
    }
    body = _page(data, metrics, headline, blocks, example)
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>TAP report</title>" + STYLE + SELF_CHECK
            + "<script type='text/javascript'>" + plotly.offline.get_plotlyjs() + "</script></head>"
            + f"<body data-figures-expected='{len(blocks)}'>" + body + SELF_REPORT + "</body></html>")
    target = Path(out) if out else run_dir / "report.html"
    write_text(page, target)
    return target


TEXT = {
    "predicted": "Each point is one cohort: its grouped K-fold prediction (repeat 0 of the headline protocol: the "
                 "model was fitted without the cohort's fold, and cohorts that share a pool item share a fold) "
                 "against the lift really measured by GRPO training, averaged over seeds. Points on the dashed "
                 "diagonal are predicted exactly.",
    "lodo": "Trained without any cohort of a subject, how well does each scorer rank that subject's cohorts? "
    "Few cohorts per subject, so the intervals are wide. (TAP, the best gradient score and the best three features; "
    "metrics.json has every scorer.)",
    "spread": "Does more advantage spread (reward disagreement within groups) mean more lift? One slope per subject.",
    "selection": "Each scorer picks its top q% using only the other seeds' labels; the pick is scored on the held-out "
                 "seed. "
    "Higher is better; 'random' is the mean over all cohorts.",
    "ceiling": "Seed noise limits every predictor: with r1 the seed-to-seed reliability, an S-seed label can be "
               "predicted at "
    "best with correlation √(S·r1 / (1 + (S−1)·r1)).",
    "frontier": "What each scorer costs per cohort against how well it ranks (grouped K-fold ρ within held-out folds). "
                "'measured lift' is train-and-measure on other seeds, scored by ρ with a held-out seed.",
    "learning": "How the ranking improves with the number of labelled cohorts: random subsamples of each size, each "
                "judged by grouped 5-fold inside the subsample against a held-out seed (models learn from the other "
                "seeds' labels; ρ within held-out folds), beside the scorers that need no labels. Bars: the spread "
                "over subsamples, not a bootstrap.",
    "importance": "How much held-out ranking quality drops when one feature is shuffled. Hover for each feature's "
                  "definition.",
    "loop": "Each step, every arm picks one of the same fresh candidate cohorts and GRPO-trains on it with the same "
            "seed; "
    "TAP scores the candidates against the current policy (prior, then a ridge refit on its own realized lifts).",
    "choice": "At every state of the loop, every arm chose among the same candidates, and every candidate was labelled "
    "from that state (`tap choice`): how far below the best candidate each arm's choice was.",
    "intervention": "Cohorts built from the same subject's items, differing only in how many items the base policy "
    "sometimes solves (the rest always or never): does frac_nondegenerate cause lift?",
    "example": "",
}


def _label_config_html(metrics: dict) -> str:
    """Which label config the labels come from, and what the evaluation set aside."""
    notes = "".join(f"<br>Note: {html.escape(line)}" for line in metrics.get("label_notes") or [])
    return (
        f"<p class='note' id='label-config'>Labels: label config {html.escape(str(metrics.get('label_config_hash')))} "
        "only "
        f"(the run's current one).{notes}</p>"
    )


def _page(data: dict, metrics: dict, headline: str, blocks: dict, example) -> str:
    noise = metrics["noise"]
    parts = [
        "<h1>TAP report</h1>",
        f"<p class='note'>{metrics['cohorts']} cohorts × {metrics['seeds']} seeds; label = mean {metrics['target']} "
        "over seeds "
        f"(positive = the probe improved); 95% bootstrap intervals over item groups (cohorts that share a pool item "
        f"resample together; {metrics['bootstrap']} resamples). "
        f"Noise ceiling √R_{noise['seeds']} = {fmt(noise['ceiling'])}. ★ = the configured predictor.</p>",
        answer_html(data, metrics, headline, blocks["trust"][1]),
        _label_config_html(metrics),
    ]
    for key, (title, div) in blocks.items():
        if key == "trust":
            continue
        if key == "lodo":  # the scorer table goes after the three figures a user reads first
            parts += [
                "<h2>Every scorer</h2>",
                "<p class='note'>The configured predictor (★) and the best of each group; every scorer, grouped, "
                "one click away. All are evaluated on the same cohorts with the same protocols; metrics.json holds "
                "all of them.</p>",
                headline_table(metrics),
            ]
        parts.append(f"<h2>{html.escape(title)}</h2><p>{TEXT.get(key, '')}</p>")
        if key == "example" and example:
            parts.append(_example_html(data, example[0], example[1], headline))
        parts.append(div)
    parts += ["<h2>Cost summary</h2>", _cost_html(data), "<h2>Configuration</h2>",
              f"<details><summary>config.toml of this run</summary><pre>{html.escape(data['config'])}</pre></details>"]
    return "\n".join(parts)
