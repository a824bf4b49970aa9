"""The report's figures on what a fitted predictor does in training: the closed loop, choice quality step by step,
and the causal intervention. Same contract as tap.report.figures: plain tables in, a Plotly figure out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tap.report.figures import LAYOUT, subject_color


def loop_curves(table: pd.DataFrame) -> go.Figure:
    """Cumulative lift of the configured target per arm against loop step: mean over loop seeds,
    95% t-band (tables written before the loop measured the target: the probe-NLL drop)."""
    from scipy import stats

    column = "cumulative_lift" if "cumulative_lift" in table else "cumulative_nll_drop"
    target = str(table.target.iloc[0]) if "target" in table else "lift_nll"
    fig = go.Figure()
    palette = {"tap": "#d62728", "random": "#7f7f7f", "reward_filter": "#1f77b4", "cascade": "#ff7f0e"}
    for arm, part in table.groupby("arm"):
        by_step = part.groupby("step")[column]
        mean, sem, n = by_step.mean(), by_step.sem().fillna(0), by_step.size()
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sem
        steps = [0, *mean.index]
        color = palette.get(arm, "#333")
        fig.add_trace(
            go.Scatter(
                x=steps + steps[::-1],
                y=[0, *(mean + half)] + [*(mean - half)][::-1] + [0],
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(go.Scatter(x=steps, y=[0, *mean], mode="lines+markers", name=arm, line=dict(color=color),
                                 hovertemplate="step %{x}: %{y:+.4f}<extra>" + arm + "</extra>"))
    fig.update_layout(**LAYOUT, title=f"Closed loop: cumulative {target} (mean over loop seeds, 95% band)",
                      xaxis_title="loop step", yaxis_title=f"cumulative {target} (up = better)")
    return fig


def intervention(table: pd.DataFrame, summary: dict) -> go.Figure:
    """Lift against the achieved frac_nondegenerate of matched cohorts, with the fitted slope."""
    fig = go.Figure()
    for subject, part in table.groupby("subject"):
        fig.add_trace(
            go.Scatter(
                x=part.frac_nondegenerate,
                y=part.label,
                mode="markers",
                name=subject,
                marker=dict(color=subject_color(subject), size=8),
                error_y=dict(type="data", array=part.seed_std / np.sqrt(part.n_seeds), thickness=1),
                customdata=part.cohort_id,
                hovertemplate="%{customdata}: frac_nondegenerate %{x:.2f}, lift %{y:.4f}<extra></extra>",
            )
        )
    fit = summary["achieved"]
    xs = np.array([0.0, 1.0])
    intercept = float(np.mean(table.label) - fit["slope"] * np.mean(table.frac_nondegenerate))
    fig.add_trace(go.Scatter(x=xs, y=fit["slope"] * xs + intercept, mode="lines", line=dict(color="black", dash="dash"),
                             name=f"slope {fit['slope']:+.4f} [{fit['lo']:+.4f}, {fit['hi']:+.4f}]"))
    fig.update_layout(
        **LAYOUT,
        title="Causal intervention: matched cohorts differing only in frac_nondegenerate",
        xaxis_title="frac_nondegenerate (fresh rollouts of the base policy)",
        yaxis_title="measured lift (S-seed mean)",
    )
    return fig


def choice_cost(summary: dict) -> go.Figure:
    """`tap choice`: each arm's share of the oracle's gain (95% bootstrap interval over loop seeds)
    against its measured seconds per state (log scale; random, which reads nothing, sits at the left edge)."""
    arms = [a for a, t in summary["arms"].items() if "cost_per_state" in t]
    costs = [summary["arms"][a]["cost_per_state"]["seconds"] for a in arms]
    floor = min([c for c in costs if c > 0], default=1.0) / 4
    shares = [summary["arms"][a]["fraction_of_oracle"] for a in arms]
    fig = go.Figure(go.Scatter(
        x=[max(c, floor) for c in costs], y=[s["mean"] for s in shares], mode="markers+text", text=arms,
        textposition="top center", marker=dict(size=10, color=["#d62728" if a == "tap" or a.startswith("cascade")
                                                              else "#7f7f7f" for a in arms]),
        error_y=dict(type="data", symmetric=False, array=[s["hi"] - s["mean"] for s in shares],
                     arrayminus=[s["mean"] - s["lo"] for s in shares]),
        customdata=costs,
        hovertemplate="%{text}: %{y:.2f} of the oracle's gain at %{customdata:.2f} s/state<extra></extra>"))
    fig.update_layout(
        **LAYOUT,
        title=f"Choice quality against cost at {summary['states']} states (up and left = better)",
        xaxis=dict(title="seconds per state (measured in this run; log)", type="log"),
        yaxis_title="share of the oracle's gain over a uniform pick",
    )
    return fig


def choice_quality(summary: dict) -> go.Figure:
    """`tap choice`: each arm's mean regret to the best candidate (95% bootstrap interval over loop
    seeds), lowest first, against a uniform pick's expected regret (dashed)."""
    arms = sorted(summary["arms"], key=lambda a: summary["arms"][a]["regret"]["mean"])
    parts = [summary["arms"][a]["regret"] for a in arms]
    fig = go.Figure(go.Bar(
        x=arms, y=[p["mean"] for p in parts], marker_color=["#d62728" if a == "tap" else "#7f7f7f" for a in arms],
        error_y=dict(type="data", symmetric=False, array=[p["hi"] - p["mean"] for p in parts],
                     arrayminus=[p["mean"] - p["lo"] for p in parts]),
        hovertemplate="%{x}: regret %{y:.4f}<extra></extra>"))
    fig.add_hline(y=summary["uniform"]["regret"], line_dash="dash", annotation_text="uniform pick (expected)")
    fig.update_layout(
        **LAYOUT,
        title=f"Choice quality at {summary['states']} states: regret to the best of {summary['candidates']} "
        "candidates (down = better; 95% band over loop seeds)",
        xaxis_title="arm",
        yaxis_title=f"regret ({summary['target']})",
    )
    return fig
