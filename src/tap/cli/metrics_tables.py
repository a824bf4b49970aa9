"""The evaluation's tables as the CLI prints them: ranking, selection, per subject, footnotes, and
TAP auto's choice."""

from __future__ import annotations

import math

from rich.table import Table

from tap.cli.common import console


def _ci(metric: dict | None, digits: int = 2, scale: float = 1.0, interval: bool = True) -> str:
    """'value [lo, hi]' of a metrics.json triplet, times `scale` ('—' when undefined)."""
    if not metric or metric.get("value") is None:
        return "—"
    lo, hi = metric.get("lo"), metric.get("hi")
    text = f"{metric['value'] * scale:.{digits}f}"
    if interval and lo is not None and hi is not None:
        text += f" [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]" + ("†" if metric.get("undefined") else "")
    return text


def _interval(lo: float, hi: float) -> str:
    """'[lo, hi]' with 'unbounded' for an infinite end (too few calibration points at this level)."""
    end = lambda v: f"{v:+.4f}" if math.isfinite(v) else "unbounded"  # noqa: E731
    return f"[{end(lo)}, {end(hi)}]"


SCORER_GROUPS = ["tap", "measured", "gradient", "feature", "random"]


def _print_metrics(metrics: dict) -> None:
    scorers = sorted(metrics["scorers"], key=_scorer_order)
    for table in (*_ranking_tables(metrics, scorers), _per_subject_table(scorers)):
        if table is not None:
            console.print(table)
    _print_footnotes(metrics)


def _scorer_order(entry: dict) -> tuple:
    """By group, then by K-fold ρ (held-out-seed ρ for the measured selectors), best first."""
    m = entry["metrics"]
    key = (m.get("kfold_spearman") or m.get("heldout_spearman") or {}).get("value")
    return SCORER_GROUPS.index(entry["group"]), -(key if key is not None else -9)


def _ranking_tables(metrics: dict, scorers: list[dict]) -> tuple[Table, Table]:
    """The ranking table (K-fold, LOCO, LODO) and the held-out-seed selection table."""
    from rich import box

    q = round(100 * metrics["top_q"])
    paired = (metrics.get("paired") or {}).get("minus_headline", {})
    protocol = metrics.get("protocol", {})
    ranking = Table(
        title=(
            f"Ranking: {metrics['cohorts']} cohorts x {metrics['seeds']} seeds, label = mean {metrics['target']} "
            f"over seeds; K-fold = {protocol.get('headline', 'grouped K-fold')} ({protocol.get('groups', '?')} item "
            f"groups, largest {protocol.get('largest_group', '?')}); value [95% bootstrap interval over item "
            "groups and repeats]"
        ),
        box=box.SIMPLE_HEAD,
    )
    selection = Table(
        title=f"Selection on a held-out seed: top {q}% of cohorts, {metrics['target']} ×1e3", box=box.SIMPLE_HEAD
    )
    for column in (
        "scorer",
        "group",
        "s / cohort",
        "K-fold ρ",
        "ρ / ceiling",
        "− headline",
        "pairwise",
        "LOCO ρ",
        "LODO ρ",
        "LODO gap",
    ):
        ranking.add_column(column, justify="left" if column in ("scorer", "group") else "right", no_wrap=True)
    for column in ("scorer", "selected", "gain vs random", "gain − measured", "of oracle", "ρ vs held-out seed"):
        selection.add_column(column, justify="left" if column == "scorer" else "right", no_wrap=True)
    for entry in scorers:
        m = entry["metrics"]
        name = entry["name"] + (" *" if entry["name"] == metrics.get("headline") else "")
        cost = entry.get("cost_seconds")
        ranking.add_row(
            name, entry["group"], f"{cost:.3g}" if cost is not None else "—", _ci(m.get("kfold_spearman")),
            _ci(m.get("rho_over_ceiling"), interval=False), _ci(paired.get(entry["name"])),
            _ci(m.get("kfold_pairwise_accuracy"), interval=False), _ci(m.get("loco_spearman"), interval=False),
            _ci(m.get("lodo_spearman"), interval=False), _ci(m.get("lodo_gap"), interval=False),
        )
        selection.add_row(
            name, _ci(m.get("top_selected"), 1, 1e3, interval=False), _ci(m.get("top_gain"), 1, 1e3),
            _ci(m.get("top_gain_vs_measured"), 1, 1e3), _ci(m.get("top_fraction_of_oracle")),
            _ci(m.get("heldout_spearman"), interval=False),
        )
    return ranking, selection


def _per_subject_table(scorers: list[dict]) -> Table | None:
    """LODO ρ within each held-out subject (None when no scorer has LODO numbers)."""
    from rich import box

    subjects = sorted({k for e in scorers for k in e.get("lodo_per_subject", {})})
    if not subjects:
        return None
    table = Table(
        title="LODO per subject: ρ within the held-out subject's cohorts [95% interval], (K-fold ρ − LODO ρ there)",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("scorer", no_wrap=True)
    for subject in subjects:
        table.add_column(subject, justify="right", no_wrap=True)
    for entry in scorers:
        rows = entry.get("lodo_per_subject")
        if rows:
            table.add_row(
                entry["name"],
                *(
                    f"{_ci(rows[s]['lodo_spearman'])} ({rows[s]['gap']['value']:+.2f})"
                    if s in rows and rows[s]["gap"]["value"] is not None
                    else "—"
                    for s in subjects
                ),
            )
    return table


def _print_footnotes(metrics: dict) -> None:
    """The noise ceiling, the headline's interval coverage and the tables' footnotes."""
    noise, protocol = metrics["noise"], metrics.get("protocol", {})
    console.print(
        f"noise: single-seed reliability r1 = {_ci(noise['single_seed_reliability'])}; ceiling √R_{noise['seeds']} = "
        f"{_ci(noise['ceiling'])}; projected ceiling for 1/3/5/10 seeds: "
        + ", ".join(f"{noise['projection'][str(s)]:.3f}" for s in (1, 3, 5, 10))
    )
    for entry in metrics["scorers"]:
        cov = entry.get("coverage")
        if cov and entry["name"] == metrics.get("headline"):
            width = "—" if cov.get("mean_width") is None else f"{cov['mean_width']:.4f}"
            unbounded = f"; {cov['unbounded']} unbounded (too few calibration points)" if cov.get("unbounded") else ""
            console.print(
                f"{entry['name']}: {cov['level']:.0%} conformal intervals (K-fold repeat 0) cover "
                f"{_ci(cov['coverage'])} of held-out labels "
                f"(mean width {width}{unbounded}; {'within' if cov['within_5_points'] else 'NOT within'} ±5 points of "
                "nominal)"
            )
    console.print(
        "* the configured predictor. − headline: K-fold ρ minus the configured predictor's, paired over the same "
        "resamples. "
        "LODO gap = K-fold ρ − LODO ρ on the same cohorts. LOCO runs only on batteries of at most "
        f"{protocol.get('loco_max_cohorts', 64)} cohorts. gain vs random: the selection's mean held-out-seed lift "
        "minus the mean over "
        "all cohorts; gain − measured: that minus the measured-lift selector's gain. 'measured lift' rows have no "
        "K-fold/LOCO/LODO numbers: they read the labels themselves."
        + (
            " † some bootstrap resamples left the statistic undefined (e.g. a constant column): they are left out of "
            "that interval and counted under 'undefined' in metrics.json."
            if _any_undefined(metrics)
            else ""
        )
    )


def _any_undefined(tree) -> bool:
    if isinstance(tree, dict):
        return bool(tree.get("undefined")) or any(_any_undefined(v) for v in tree.values())
    if isinstance(tree, list):
        return any(_any_undefined(v) for v in tree)
    return False


def _print_auto_choice(predictor) -> None:
    """The candidates TAP auto compared on the full battery (inner grouped K-fold ρ ± its standard error over the
    inner folds): the chosen one (the first, in auto's order of preference, within one standard error of the best)
    first, then the best of the others."""
    table = Table(title="TAP auto: inner grouped-CV ρ of each candidate on this battery (the chosen one first: the "
                        "first, in auto's order of preference, within one standard error of the best)")
    for column in ("model", "scaling", "families", "penalty", "prior", "inner ρ ± SE"):
        table.add_column(column, justify="right" if column.startswith("inner") else "left")
    prior = predictor.prior_name() if hasattr(predictor, "prior_name") else None
    chosen = [r for r in predictor.inner_scores_ if {k: r.get(k) for k in predictor.choice_} == predictor.choice_]
    others = sorted((r for r in predictor.inner_scores_ if r not in chosen[:1]),
                    key=lambda r: -r["inner_spearman"] if math.isfinite(r["inner_spearman"]) else 9)
    for row in [*chosen[:1], *others][:8]:
        penalty = ("—" if row["model"] == "prior" else "evidence" if row["model"] == "bayes"
                   else f"l2 {row['l2_regularization']:g}" if row["model"] == "gbm" else f"alpha {row['alpha']:g}")
        shrunk = (prior or "") if row.get("prior") else ""
        table.add_row(row["model"], row["scaling"], "+".join(row["families"]), penalty, shrunk,
                      f"{row['inner_spearman']:+.3f} ± {row.get('inner_standard_error', float('nan')):.3f}")
    console.print(table)
