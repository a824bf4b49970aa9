"""Markdown tables of a study's metrics.json, as README.md and docs/evaluation.md quote them.

The tables are generated, never typed: rerun this after `python bench/demo.py` refreshes
docs/results/default-study/ and paste its output where the docs show the tables.

    python bench/tables.py [--metrics docs/results/default-study/metrics.json] [--table readme|ranking|selection|lodo|coverage]
"""

from __future__ import annotations

import argparse
import json
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
    value = (entry.get("metrics", {}).get("loco_spearman") or {}).get("value")
    return -9.0 if value is None else value


def ordered(metrics: dict) -> list[dict]:
    return sorted(metrics["scorers"], key=lambda e: (GROUPS.index(e["group"]), -rho(e)))


def cost(entry: dict) -> str:
    seconds = entry.get("cost_seconds")
    return "0" if entry["group"] == "random" else ("—" if seconds is None else f"{seconds:.3g}")


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def readme(metrics: dict) -> str:
    """The configured TAP, the other TAP variants, the best single feature and gradient score, measured lift, random."""
    entries = ordered(metrics)
    best = lambda group: max((e for e in entries if e["group"] == group), key=rho)  # noqa: E731
    chosen = [e for e in entries if e["group"] == "tap"] + [best("feature"), best("gradient")]
    chosen += [e for e in entries if e["name"] == "measured lift, 1 seed"] + [e for e in entries if e["group"] == "random"]
    q = round(100 * metrics["top_q"])
    rows = []
    for e in chosen:
        name = e["name"] + (" (the configured default)" if e["name"] == metrics.get("headline") else "")
        name += " (best single feature)" if e is best("feature") else (" (best gradient score)" if e is best("gradient") else "")
        m = e["metrics"]
        rows.append([name, cost(e), ci(m.get("loco_spearman")), ci(m.get("top_fraction_of_oracle"))])
    return table(["scorer", "s / cohort", "LOCO ρ", f"top-{q}% fraction of oracle"], rows)


def ranking(metrics: dict) -> str:
    rows = [[e["name"], cost(e), ci(e["metrics"].get("loco_spearman")), ci(e["metrics"].get("loco_pearson")),
             ci(e["metrics"].get("pairwise_accuracy")), ci(e["metrics"].get("lodo_spearman")), ci(e["metrics"].get("lodo_gap")),
             ci(e["metrics"].get("rho_over_ceiling"))] for e in ordered(metrics)]
    return table(["scorer", "s / cohort", "LOCO ρ", "LOCO r", "pairwise acc.", "LODO ρ (pooled)", "LODO gap", "ρ / ceiling"], rows)


def selection(metrics: dict) -> str:
    rows = [[e["name"], ci(e["metrics"].get("top_selected"), 1, 1e3, False), ci(e["metrics"].get("top_gain"), 1, 1e3),
             ci(e["metrics"].get("top_gain_vs_measured"), 1, 1e3), ci(e["metrics"].get("top_fraction_of_oracle")),
             ci(e["metrics"].get("heldout_spearman"), interval=False)] for e in ordered(metrics)]
    return table(["scorer", "selected ×1e3", "gain vs random ×1e3", "gain − measured ×1e3", "fraction of oracle", "ρ vs held-out seed"], rows)


def lodo(metrics: dict) -> str:
    entries = [e for e in ordered(metrics) if e.get("lodo_per_subject")]
    subjects = sorted({s for e in entries for s in e["lodo_per_subject"]})
    rows = []
    for e in entries:
        cells = []
        for s in subjects:
            part = e["lodo_per_subject"].get(s)
            gap = (part or {}).get("gap", {}).get("value")
            cells.append("—" if part is None else f"{ci(part['lodo_spearman'])} ({'—' if gap is None else f'{gap:+.2f}'.replace('-', '−')})")
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
    return table(["TAP scorer", f"{level}% interval coverage (LOCO)", "mean width (bounded)", "unbounded"], rows)


TABLES = {"readme": readme, "ranking": ranking, "selection": selection, "lodo": lodo, "coverage": coverage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, default=REPO / "docs" / "results" / "default-study" / "metrics.json")
    parser.add_argument("--table", choices=list(TABLES), action="append", help="Which tables (default: all).")
    args = parser.parse_args()
    metrics = json.loads(args.metrics.read_text())
    for name in args.table or TABLES:
        print(f"<!-- {name}: python bench/tables.py --table {name} -->\n{TABLES[name](metrics)}\n")


if __name__ == "__main__":
    main()
