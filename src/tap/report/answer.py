"""The report's first screen and its scorer table: the cohorts the configured predictor ranks first and
last, how far to trust that ranking (against the best free signal, random and the noise ceiling), which
scorers a comparing figure shows by default, and the scorer table (the best of each group, every scorer
collapsed). html.py lays them out with the figures."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

import tap.report.figures as F


def fmt(metric: dict | None, digits: int = 2, scale: float = 1.0) -> str:
    if not metric or metric.get("value") is None:
        return "—"
    text = f"{metric['value'] * scale:.{digits}f}"
    if metric.get("lo") is not None and metric.get("hi") is not None:
        text += f" <span class='note'>[{metric['lo'] * scale:.{digits}f}, {metric['hi'] * scale:.{digits}f}]</span>"
    return text


def subset(metrics: dict, gradients: int | None, features: int) -> list[dict]:
    """TAP, measured lift, the best `gradients` gradient scores (None: all), the best `features`
    single features (by K-fold ρ), and random."""
    entries = metrics["scorers"]
    rho = lambda e: np.nan_to_num(F._value(e["metrics"].get("kfold_spearman")), nan=-9)  # noqa: E731
    best = lambda group, k: sorted([e for e in entries if e["group"] == group], key=lambda e: -rho(e))[:k]  # noqa: E731
    return (
        [e for e in entries if e["group"] in ("tap", "measured")]
        + best("gradient", gradients)
        + best("feature", features)
        + [e for e in entries if e["group"] == "random"]
    )


FREE_GROUPS = ("feature", "gradient")  # scorers that need no labels (the in-fold "best feature" ones do)
SHOWN = 6  # figures that compare scorers show this many by default; the legend holds the rest


def _kfold_rho(entry: dict) -> float:
    return float(np.nan_to_num(F._value(entry["metrics"].get("kfold_spearman")), nan=-9))


def _best_free(metrics: dict) -> tuple[dict | None, int]:
    """The free signal (a single feature or gradient score, no labels) that ranks best, and how many there were."""
    free = [e for e in metrics["scorers"] if e["group"] in FREE_GROUPS and not e["name"].startswith("best feature")]
    return (max(free, key=_kfold_rho) if free else None), len(free)


def shown_scorers(metrics: dict, headline: str) -> set[str]:
    """The scorers a comparing figure shows by default: the configured predictor, the best other TAP variant,
    the best gradient score and single feature, one seed of measured lift, and random."""
    entries = metrics["scorers"]
    best = lambda group, skip=(): max((e for e in entries if e["group"] == group and e["name"] not in skip),  # noqa: E731
                                      key=_kfold_rho, default=None)
    picks = [headline, best("tap", (headline,)), best("gradient"), best("feature")]
    names = {p if isinstance(p, str) else p["name"] for p in picks if p is not None}
    return names | {e["name"] for e in entries if e["name"] == "measured lift, 1 seed" or e["group"] == "random"}


def show_few(fig, shown: set[str]):
    """Every trace beyond the default few is one click away (legend only)."""
    names = [t.name for t in fig.data]
    keep = shown if len(shown & set(names)) >= 3 else set(names[:SHOWN])
    fig.for_each_trace(lambda t: t.update(visible=True if t.name in keep else "legendonly"))
    return fig


def curve_shown(curve: dict) -> set[str]:
    """The learning curve's default lines: the configured predictor, random, and the best others at the largest size."""
    def final(entry: dict) -> float:
        last = entry["sizes"][str(max(int(m) for m in entry["sizes"]))]["rho"]["value"]
        return -9.0 if last is None else last

    fixed = {curve.get("configured")} | {n for n, e in curve["curves"].items() if e["group"] == "random"}
    others = sorted((n for n in curve["curves"] if n not in fixed), key=lambda n: -final(curve["curves"][n]))
    return (fixed | set(others[: SHOWN - len(fixed)])) - {None}


def _ranked_html(pred: pd.DataFrame, headline: str, few: int = 5) -> str:
    """The cohorts the configured predictor ranks first and last (held-out predictions), with their held-out
    probability of harm (P(lift < 0), ⚠ at 0.5 or more) when the predictions have it, and what was measured."""
    pred = pred[pred.scorer == headline].sort_values("pred", ascending=False).reset_index(drop=True)
    harm = "p_harm" in pred and pred.p_harm.notna().any()
    columns = 6 if harm else 5
    rows = []
    for rank, r in pred.iterrows():
        if few <= rank < len(pred) - few:
            if rank == few:
                rows.append(f"<tr><td colspan='{columns}' class='note'>… {len(pred) - 2 * few} more …</td></tr>")
            continue
        cell = (f"<td>{r.p_harm:.2f}{' ⚠' if r.p_harm >= 0.5 else ''}</td>" if harm else "")
        rows.append(f"<tr><td>{rank + 1}</td><td>{html.escape(str(r.cohort_id))}</td><td>{html.escape(str(r.subject))}"
                    f"</td><td>{r.pred:+.4f} <span class='note'>[{r.pred_lo:+.4f}, {r.pred_hi:+.4f}]</span></td>"
                    f"{cell}<td>{r.label:+.4f}</td></tr>")
    head = "<th>P(lift &lt; 0)</th>" if harm else ""
    return ("<table id='ranked'><tr><th>rank</th><th>cohort</th><th>subject</th><th>predicted lift [interval]</th>"
            f"{head}<th>measured lift</th></tr>" + "".join(rows) + "</table>")


def trust_text(metrics: dict, headline: str) -> tuple[str, list[tuple[str, dict | None]]]:
    """One sentence on how far to trust the ranking, and the rows of its figure."""
    entries = {e["name"]: e for e in metrics["scorers"]}
    tap = entries[headline]["metrics"].get("kfold_spearman")
    free, count = _best_free(metrics)
    random = next((e for e in metrics["scorers"] if e["group"] == "random"), None)
    rows = [(f"{headline} ★", tap)]
    text = f"{html.escape(headline)} ranks held-out cohorts at ρ {fmt(tap)} (grouped K-fold)"
    if free is not None:
        diff = (metrics.get("paired") or {}).get("minus_headline", {}).get(free["name"])
        rows.append((f"{free['name']} (best free signal)", free["metrics"].get("kfold_spearman")))
        text += (f"; the best of {count} free signals (no labels; chosen after the fact, so flattered), "
                 f"{html.escape(free['name'])}, at {fmt(free['metrics'].get('kfold_spearman'))}")
        if diff and diff.get("lo") is not None:
            verdict = ("so on this battery the free signal ranks better than TAP" if diff["lo"] > 0 else
                       "so TAP ranks better than every free signal" if diff["hi"] < 0 else
                       "so neither is clearly ahead")
            text += f"; free − TAP, paired: {fmt(diff)}, {verdict}"
    if random is not None:
        rows.append(("random", random["metrics"].get("kfold_spearman")))
    noise = metrics["noise"]["ceiling"]
    text += f". No predictor of the {metrics['seeds']}-seed label can pass the noise ceiling, {fmt(noise)}."
    return text, rows


def _harm_note(metrics: dict, headline: str) -> str:
    """One sentence on the held-out probability of harm: how well it found lift < 0 here, beside the reward-only
    heuristics."""
    harm = next((e.get("harm") for e in metrics["scorers"] if e["name"] == headline), None)
    if not harm or harm["auroc"].get("value") is None or not np.isfinite(harm["auroc"]["value"]):
        return ""
    heuristics = "; ".join(
        f"{html.escape(name)} {fmt(h)}" for name, h in (metrics.get("harm_heuristics") or {}).items()
    )
    return (f"<p class='note' id='harm'>P(lift &lt; 0) comes from the predictor's held-out errors (⚠: 0.5 or more). "
            f"Here it tells the {harm['base_rate']['value']:.0%} of cohorts whose lift was below 0 at AUROC "
            f"{fmt(harm['auroc'])}" + (f" (reward-only heuristics: {heuristics})" if heuristics else "") + ".</p>")


def answer_html(data: dict, metrics: dict, headline: str, trust_div: str) -> str:
    """The first screen: which cohorts, how far to trust that, and where the whole ranking is."""
    text, _ = trust_text(metrics, headline)
    n = metrics["cohorts"]
    return (
        "<section id='answer'><div style='display:flex; gap:2em; align-items:flex-start; flex-wrap:wrap'>"
        "<div style='flex:0 1 560px'><h2>Which cohorts to train on</h2>"
        f"<p class='note'>{html.escape(headline)}'s held-out prediction of each of the {n} cohorts (predicted "
        "before its own labels were seen), best and worst first, beside the lift GRPO training really gave.</p>"
        + _ranked_html(data["predictions"], headline)
        + "<p class='note' id='full-ranking'>The whole ranking: <code>predictions.parquet</code>, rows with scorer "
        f"== \"{html.escape(headline)}\" (columns pred, pred_lo, pred_hi, p_harm, label). New cohorts: "
        "<code>tap score COHORTS --predictor predictor.skops</code>.</p>"
        + _harm_note(metrics, headline) + "</div>"
        "<div style='flex:1 1 500px; min-width:420px'><h2>How far to trust it</h2>"
        f"<p id='trust'>{text}</p>{trust_div}</div>"
        "</div></section>"
    )


def _scorer_row(e: dict, metrics: dict, paired: dict, ceiling: str) -> str:
    m = e["metrics"]
    cost = e.get("cost_seconds")
    cells = [html.escape(e["name"]) + (" ★" if e["name"] == metrics.get("headline") else ""), e["group"],
             "—" if cost is None else f"{cost:.3g}", fmt(m.get("kfold_spearman")), fmt(paired.get(e["name"])),
             fmt(m.get("kfold_pairwise_accuracy")), fmt(m.get("loco_spearman")), fmt(m.get("top_gain"), 1, 1e3),
             fmt(m.get("top_fraction_of_oracle")), ceiling, fmt(m.get("rho_over_ceiling"))]
    return f"<tr class='{e['group']}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def headline_table(metrics: dict) -> str:
    q = round(100 * metrics["top_q"])
    head = [
        "scorer",
        "group",
        "s / cohort",
        "K-fold ρ",
        "− configured",
        "pairwise acc.",
        "LOCO ρ",
        f"top-{q}% gain ×1e3",
        "fraction of oracle",
        "ceiling √R_S",
        "ρ / ceiling",
    ]
    paired = (metrics.get("paired") or {}).get("minus_headline", {})
    ceiling = fmt(metrics["noise"]["ceiling"])
    header = "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    headline = metrics.get("headline")
    by_group: dict[str, list[dict]] = {}
    for e in metrics["scorers"]:
        by_group.setdefault(e["group"], []).append(e)
    short = [e for e in metrics["scorers"] if e["name"] == headline]
    for group, entries in by_group.items():
        best = max((e for e in entries if e["name"] != headline), key=_kfold_rho, default=None)
        if best is not None and best["name"] != headline:
            short.append(best)
    table = ("<table id='scorers-short'>" + header
             + "".join(_scorer_row(e, metrics, paired, ceiling) for e in short) + "</table>")
    groups = "".join(
        f"<tr><th colspan='{len(head)}' style='text-align:left'>{html.escape(group)} ({len(entries)})</th></tr>"
        + "".join(_scorer_row(e, metrics, paired, ceiling) for e in sorted(entries, key=lambda e: -_kfold_rho(e)))
        for group, entries in by_group.items()
    )
    return (table + f"<details id='scorers-all'><summary>Every scorer ({len(metrics['scorers'])}), by group"
            f"</summary><table>{header}{groups}</table></details>")
