"""One Plotly figure per question the report answers. Each function takes plain tables / dicts
read from the run folder and returns a `plotly.graph_objects.Figure`."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

SUBJECT_COLORS = {
    "math": "#1f77b4",
    "code": "#ff7f0e",
    "science": "#2ca02c",
    "knowledge": "#9467bd",
    "mixed": "#7f7f7f",
}
OTHER_COLORS = (
    "#d62728",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
)


def subject_color(subject: str) -> str:
    """The tiny suite's subjects keep their colours; any other subject (a reasoning-gym task) gets a
    palette colour fixed by its name."""
    return SUBJECT_COLORS.get(subject) or OTHER_COLORS[zlib.crc32(str(subject).encode()) % len(OTHER_COLORS)]
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50), height=420)


def _value(metric: dict | None) -> float:
    return np.nan if not metric or metric.get("value") is None else metric["value"]


def _error(metric: dict | None) -> tuple[float, float]:
    """Distances from the value to the interval's ends (for error bars)."""
    if not metric or metric.get("lo") is None or metric.get("value") is None:
        return np.nan, np.nan
    return metric["value"] - metric["lo"], metric["hi"] - metric["value"]


def trust(rows: list[tuple[str, dict | None]], ceiling: dict | None) -> go.Figure:
    """The first screen's small figure: grouped K-fold ρ with its interval for a few scorers (the configured
    predictor, the best free signal, random), against the noise ceiling."""
    names = [name for name, _ in rows][::-1]
    values = [_value(metric) for _, metric in rows][::-1]
    errors = [_error(metric) for _, metric in rows][::-1]
    fig = go.Figure(go.Scatter(
        x=values, y=names, mode="markers", marker=dict(size=11, color="#1f4e79"),
        error_x=dict(type="data", symmetric=False, array=[e[1] for e in errors], arrayminus=[e[0] for e in errors],
                     thickness=2),
        hovertemplate="%{y}: ρ %{x:.2f}<extra></extra>", showlegend=False,
    ))
    if ceiling and ceiling.get("value") is not None:
        fig.add_vline(x=ceiling["value"], line_dash="dash", line_color="#b22",
                      annotation_text=f"noise ceiling {ceiling['value']:.2f}", annotation_position="top left")
    fig.add_vline(x=0, line_color="#999", line_width=1)
    fig.update_layout(**{**LAYOUT, "height": 260, "margin": dict(l=200, r=20, t=30, b=45)},
                      xaxis_title="grouped K-fold ρ with the measured lift (95% interval)",
                      xaxis_range=[-1, 1.05])
    return fig


def predicted_vs_actual(pred: pd.DataFrame, scorer: str) -> go.Figure:
    """Density of (held-out K-fold prediction, label) with the diagonal; each cohort a point coloured by subject."""
    fig = go.Figure(go.Histogram2d(
        x=pred.pred, y=pred.label, nbinsx=12, nbinsy=12, colorscale="Greys", showscale=True,
        colorbar=dict(title="cohorts", x=1.02), hoverinfo="skip", opacity=0.6,
    ))
    for subject, part in pred.groupby("subject"):
        fig.add_trace(
            go.Scatter(
                x=part.pred,
                y=part.label,
                mode="markers",
                name=subject,
                marker=dict(color=subject_color(subject), size=8, line=dict(width=0.5, color="white")),
                customdata=np.stack([part.cohort_id, part.subject, part.pred_lo, part.pred_hi], axis=1),
                hovertemplate="%{customdata[0]} (%{customdata[1]})<br>predicted %{x:.4f} [%{customdata[2]:.4f}, "
                              "%{customdata[3]:.4f}]"
                "<br>actual %{y:.4f}<extra></extra>",
            )
        )
    lo = float(min(pred.pred.min(), pred.label.min()))
    hi = float(max(pred.pred.max(), pred.label.max()))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x", line=dict(dash="dash", color="black")))
    fig.update_layout(
        **LAYOUT,
        title=f"{scorer}: held-out prediction (grouped K-fold, repeat 0) vs measured lift",
        xaxis_title="predicted lift (held-out fold)",
        yaxis_title="measured lift (mean over seeds)",
        legend=dict(x=1.12),
    )
    return fig


def lodo_per_subject(scorers: list[dict]) -> go.Figure:
    """LODO ρ within each held-out subject, with intervals, per scorer (a point and its interval each)."""
    fig = go.Figure()
    for entry in scorers:
        rows = entry.get("lodo_per_subject") or {}
        subjects = sorted(rows)
        errors = [_error(rows[s]["lodo_spearman"]) for s in subjects]
        fig.add_trace(go.Scatter(
            x=subjects, y=[_value(rows[s]["lodo_spearman"]) for s in subjects], name=entry["name"], mode="markers",
            marker=dict(size=9),
            error_y=dict(type="data", symmetric=False, array=[e[1] for e in errors], arrayminus=[e[0] for e in errors],
                         thickness=1.5),
            customdata=[rows[s]["cohorts"] for s in subjects],
            hovertemplate="%{x}: ρ %{y:.2f} (%{customdata} cohorts)<extra>" + entry["name"] + "</extra>",
        ))
    fig.add_hline(y=0, line_color="#999", line_width=1)
    fig.update_layout(
        **LAYOUT,
        scattermode="group",
        title="Generalization: trained without a subject, ranking its cohorts (LODO ρ)",
        yaxis_title="Spearman ρ within the held-out subject",
        yaxis_range=[-1, 1],
    )
    return fig


def lift_vs_feature(table: pd.DataFrame, feature: str) -> go.Figure:
    """Label against one feature, per subject, with each subject's least-squares slope."""
    fig = go.Figure()
    for subject, part in table.groupby("subject"):
        color = subject_color(subject)
        fig.add_trace(
            go.Scatter(
                x=part[feature],
                y=part.label,
                mode="markers",
                marker=dict(color=color, size=7),
                legendgroup=subject,
                name=subject,
                customdata=part.cohort_id,
                hovertemplate="%{customdata}: " + feature + " %{x:.3f}, lift %{y:.4f}<extra></extra>",
            )
        )
        finite = part[[feature, "label"]].dropna()
        if len(finite) >= 3 and finite[feature].nunique() > 1:
            slope, intercept = np.polyfit(finite[feature], finite.label, 1)
            xs = np.linspace(finite[feature].min(), finite[feature].max(), 2)
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=slope * xs + intercept,
                    mode="lines",
                    line=dict(color=color),
                    legendgroup=subject,
                    name=f"{subject}: slope {slope:+.4f}",
                    hoverinfo="name",
                )
            )
    fig.update_layout(**LAYOUT, title=f"Lift vs {feature} per subject, with fitted slopes", xaxis_title=feature,
                      yaxis_title="measured lift")
    return fig


def selection_curves(scorers: list[dict]) -> go.Figure:
    """Mean held-out-seed lift of each scorer's top q%, for q from 5% to 100%."""
    fig = go.Figure()
    for entry in scorers:
        curve = entry.get("selection_curve")
        if curve:
            dash = "dot" if entry["group"] in ("random", "measured") else None
            fig.add_trace(
                go.Scatter(
                    x=[100 * q for q in curve["q"]],
                    y=curve["mean_lift"],
                    mode="lines+markers",
                    name=entry["name"],
                    line=dict(dash=dash),
                    hovertemplate="top %{x:.0f}%: mean lift %{y:.4f}<extra>" + entry["name"] + "</extra>",
                )
            )
    fig.update_layout(**LAYOUT, title="Selection: mean lift (on a held-out seed) of the top q% each scorer picks",
                      xaxis_title="q: share of cohorts selected (%)", yaxis_title="mean held-out-seed lift")
    return fig


def noise_ceiling(noise: dict, headline: dict | None) -> go.Figure:
    """Projected ceiling √R_S for 1–10 seeds, the seeds used, and the headline ρ."""
    seeds = sorted(int(s) for s in noise["projection"])  # JSON keys are strings ("10" sorts before "2")
    fig = go.Figure(
        go.Scatter(
            x=seeds,
            y=[noise["projection"][str(s)] for s in seeds],
            mode="lines+markers",
            name="ceiling √R_S",
            hovertemplate="%{x} seeds: ceiling %{y:.3f}<extra></extra>",
        )
    )
    ceiling = noise["ceiling"]
    low, high = _error(ceiling)
    fig.add_trace(
        go.Scatter(
            x=[noise["seeds"]],
            y=[_value(ceiling)],
            mode="markers",
            marker=dict(size=13, color="crimson"),
            error_y=dict(type="data", symmetric=False, array=[high], arrayminus=[low]),
            name=f"this study ({noise['seeds']} seeds)",
        )
    )
    if headline:
        fig.add_hline(y=_value(headline["metrics"].get("kfold_spearman")), line_dash="dash",
                      annotation_text=f"{headline['name']} K-fold ρ", annotation_position="bottom right")
    r1 = noise["single_seed_reliability"]
    interval = (
        f" [{r1['lo']:.2f}, {r1['hi']:.2f}]" if r1 and r1.get("lo") is not None and r1.get("hi") is not None else ""
    )
    fig.update_layout(**LAYOUT, title=f"Noise ceiling: single-seed reliability r1 = {_value(r1):.2f}{interval}",
                      xaxis_title="seeds per label", yaxis_title="best reachable correlation", yaxis_range=[0, 1.02])
    return fig


def cost_frontier(scorers: list[dict]) -> go.Figure:
    """Cost per cohort (seconds and FLOPs, log scale) against ranking quality, per scorer."""
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, subplot_titles=("wall seconds per cohort", "FLOPs per cohort")
    )
    symbols = {"tap": "star", "feature": "circle", "gradient": "diamond", "measured": "square"}
    for group, symbol in symbols.items():
        rows = [e for e in scorers if e["group"] == group and (e.get("cost_seconds") or 0) > 0]
        if not rows:
            continue
        quality = [e["metrics"].get("kfold_spearman") or e["metrics"].get("heldout_spearman") for e in rows]
        errors = [_error(q) for q in quality]
        for col, cost in ((1, "cost_seconds"), (2, "cost_flops")):
            fig.add_trace(
                go.Scatter(
                    x=[e[cost] for e in rows],
                    y=[_value(q) for q in quality],
                    mode="markers",
                    name=group,
                    legendgroup=group,
                    showlegend=col == 1,
                    marker=dict(symbol=symbol, size=11 if group == "tap" else 8),
                    error_y=dict(
                        type="data",
                        symmetric=False,
                        array=[e[1] for e in errors],
                        arrayminus=[e[0] for e in errors],
                        thickness=1,
                    ),
                    text=[e["name"] for e in rows],
                    hovertemplate="%{text}<br>cost %{x:.3g}<br>ρ %{y:.2f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(type="log")
    fig.update_layout(
        **LAYOUT,
        title="Cost–quality frontier (y: grouped K-fold ρ; measured lift: ρ with a held-out seed)",
        yaxis_title="Spearman ρ",
    )
    return fig


def learning_curve(curve: dict) -> go.Figure:
    """Held-out-seed ρ of each scorer against the number of labelled cohorts (bench/learning_curve.py)."""
    fig = go.Figure()
    for name, entry in curve["curves"].items():
        sizes = sorted(int(m) for m in entry["sizes"])
        points = [entry["sizes"][str(m)]["rho"] for m in sizes]
        dash = "dot" if entry["group"] in ("random", "measured") else "dash" if entry["group"] == "gradient" else None
        fig.add_trace(go.Scatter(
            x=sizes, y=[p["value"] for p in points], mode="lines+markers", name=name, line=dict(dash=dash),
            error_y=dict(type="data", symmetric=False, array=[p["hi"] - p["value"] for p in points],
                         arrayminus=[p["value"] - p["lo"] for p in points], thickness=1),
            hovertemplate="%{x} labelled cohorts: ρ %{y:.2f}<extra>" + name + "</extra>",
        ))
    crossing = curve.get("crossing", {}).get(curve.get("configured", ""))
    if crossing:
        fig.add_vline(
            x=crossing,
            line_dash="dash",
            annotation_text=f"{curve['configured']} above the best reward-only feature from {crossing}",
        )
    fig.update_xaxes(type="log", tickvals=curve["sizes"])
    fig.update_layout(
        **LAYOUT,
        title=f"Learning curve: ρ with a held-out seed vs labelled cohorts ({curve['subsamples']} subsamples each; "
        "bars: 2.5–97.5% over subsamples)",
        xaxis_title="labelled cohorts (models train on 4/5 of them)",
        yaxis_title="Spearman ρ within held-out folds",
    )
    return fig


def importances(rows: list[dict], scorer: str) -> go.Figure:
    """Held-out permutation importance of each feature, its definition on hover. A feature whose drop
    in ρ was undefined in every fold (predictions that do not vary) has no bar: the title counts them."""
    undefined = [r for r in rows if r.get("importance") is None]
    rows = sorted((r for r in rows if r.get("importance") is not None), key=lambda r: r["importance"])
    fig = go.Figure(
        go.Bar(
            x=[r["importance"] for r in rows],
            y=[r["feature"] for r in rows],
            orientation="h",
            error_x=dict(type="data", array=[r["std"] for r in rows], thickness=1),
            customdata=[[r["tag"], r["definition"]] for r in rows],
            hovertemplate="<b>%{y}</b> [%{customdata[0]}]<br>%{customdata[1]}<br>drop in held-out ρ: "
                          "%{x:.3f}<extra></extra>",
        )
    )
    layout = {**LAYOUT, "height": max(420, 18 * len(rows) + 100), "margin": dict(l=220, r=20, t=50, b=50)}
    note = f" ({len(undefined)} features: ρ undefined in every fold)" if undefined else ""
    fig.update_layout(
        **layout,
        title=f"{scorer}: permutation importance on held-out folds{note}",
        xaxis_title="drop in Spearman ρ when shuffled",
    )
    return fig


def rollout_grid(example: pd.DataFrame) -> go.Figure:
    """The worked example's rollouts: prompts x samples, coloured by advantage, text on hover."""
    prompts = sorted(example.position.unique())
    samples = sorted(example["sample"].unique())
    grid = example.pivot(index="position", columns="sample", values="advantage").loc[prompts, samples]
    hover = example.pivot(index="position", columns="sample", values="hover").loc[prompts, samples]
    reward = example.pivot(index="position", columns="sample", values="reward").loc[prompts, samples]
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[f"#{s}" for s in samples], y=[f"item {p}" for p in prompts],
        text=reward.map(lambda r: f"{r:.0f}").to_numpy(), texttemplate="%{text}", customdata=hover.to_numpy(),
        colorscale="RdBu", zmid=0, colorbar=dict(title="advantage"), hovertemplate="%{customdata}<extra></extra>",
    ))
    fig.update_layout(**LAYOUT, title="Its rollouts: reward in each cell, colour = group-normalized advantage",
                      xaxis_title="sample", yaxis_title="prompt", yaxis_autorange="reversed")
    return fig
