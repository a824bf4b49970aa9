"""Every figure in a README (or docs/) block that names a results file is in that file.

A block is a paragraph, a list item or a table, separated from the next by a blank line. When it
names one or more committed results files (bench/results/*.json, docs/results/**/*.json), each
number in it (outside inline code, links and the file names) must be found in one of them: as a
number rounded to the digits the README shows (also as a percentage, ×1e3, ×1e-9 for GFLOPs, per
minute, or a count of thousands written with commas), or inside one of the files' strings
(dates, machine names, settings). A figure that nobody can trace back fails here.
"""

import json
import math
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCUMENTS = [README, *sorted((REPO / "docs").glob("*.md"))]
RESULTS = re.compile(r"(?:bench|docs)/results/[\w./-]+?\.json")
NUMBER = re.compile(r"(?<![\w.])[−+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[−+-]?\d+)?(?![\w])")
SCALES = (1, 100, 1e3, 1e-3, 1e-9, 1e-12, 1 / 60, 1 / 2**30)


def blocks(text: str) -> list[str]:
    return [b for b in re.split(r"\n\s*\n", text) if b.strip()]


def _flatten(value, numbers: list[float], strings: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            strings.append(str(key))
            _flatten(item, numbers, strings)
    elif isinstance(value, list):
        for item in value:
            _flatten(item, numbers, strings)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, (int, float)):
        numbers.append(float(value))
    else:
        strings.append(str(value))


def contents(paths: list[str]) -> tuple[list[float], str]:
    numbers: list[float] = []
    strings: list[str] = []
    for path in paths:
        _flatten(json.loads((REPO / path).read_text()), numbers, strings)
    return numbers, "\n".join(strings)


def figures(block: str) -> list[str]:
    text = re.sub(r"```.*?(```|$)", " ", block, flags=re.DOTALL)  # fenced code
    text = re.sub(r"`[^`]*`", " ", text)  # commands and inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = RESULTS.sub(" ", text)
    return NUMBER.findall(text)


def found(token: str, numbers: list[float], strings: str) -> bool:
    bare = token.replace("−", "-").lstrip("+-")
    if re.search(rf"(?<![\d.]){re.escape(bare)}(?![\d.])", strings):  # a date, a setting, a machine name
        return True
    value = float(token.replace("−", "-").replace(",", ""))
    digits = len(token.split(".")[1].split("e")[0]) if "." in token and "e" not in token else 0
    tolerance = 0.5 * 10 ** -digits + 1e-9
    for number in numbers:
        for scale in SCALES:
            if math.isfinite(number) and abs(number * scale - value) <= tolerance * (
                1 if "e" not in token else abs(value)
            ):
                return True
    return False


def cited_blocks(documents: list[Path] = DOCUMENTS) -> list[tuple[str, list[str]]]:
    return [
        (block, sorted(set(RESULTS.findall(block))))
        for doc in documents
        for block in blocks(doc.read_text())
        if RESULTS.search(block)
    ]


def test_the_readme_cites_results_files_that_exist():
    assert cited_blocks([README]), "the README quotes no results file"
    cited = cited_blocks()
    missing = {path for _, paths in cited for path in paths if not (REPO / path).exists()}
    assert not missing, missing


@pytest.mark.parametrize("block,paths", cited_blocks(), ids=lambda v: v[:40] if isinstance(v, str) else None)
def test_each_figure_of_a_cited_block_is_in_its_results_file(block, paths):
    if any(not (REPO / p).exists() for p in paths):
        pytest.fail(f"missing results file among {paths}")
    numbers, strings = contents(paths)
    untraced = [token for token in figures(block) if not found(token, numbers, strings)]
    assert not untraced, f"figures not in {paths}: {untraced}\n---\n{block}"


def test_the_checker_catches_a_figure_that_is_not_in_the_file(tmp_path):
    numbers, strings = [56.49811598999986, 1.2587852091012472, 0.764], "x86_64, 2 cores\n2026-11-25T16:10:27+00:00"
    assert found("56.5", numbers, strings) and found("1.26", numbers, strings) and found("2026-11-25", numbers, strings)
    assert (
        found("76", numbers, "") and found("2", [], strings) and not found("6", [], strings)
    )  # "2 cores" yes, 2026's 6 no
    assert (
        not found("1.27", numbers, strings)
        and not found("202", numbers, strings)
        and not found("0.77", numbers, strings)
    )


INTERVAL = re.compile(r"([−+-]?\d+\.\d+)(%?) \[([−+-]?\d+\.\d+)%?, ([−+-]?\d+\.\d+)%?\]")
POINTS = ("value", "mean", "slope")


def _entries(value, out: list[dict]) -> list[dict]:
    """Every dict of a results file that holds an interval: a point (value, mean or slope) with lo and hi."""
    if isinstance(value, dict):
        if "lo" in value and "hi" in value and any(k in value for k in POINTS):
            out.append(value)
        for item in value.values():
            _entries(item, out)
    elif isinstance(value, list):
        for item in value:
            _entries(item, out)
    return out


def untraced_intervals(block: str, entries: list[dict]) -> list[str]:
    """Intervals written `v [lo, hi]` in prose that no single entry of the files gives all three of: a stale
    interval can pass the figure check when each of its numbers happens to appear somewhere in a large file."""
    text = re.sub(r"`[^`]*`", " ", block)

    def close(shown: str, number, digits: int, scale: float) -> bool:
        return isinstance(number, (int, float)) and abs(number * scale - float(shown.replace("−", "-"))) <= (
            0.5 * 10**-digits + 1e-9
        )

    missing = []
    for match in INTERVAL.finditer(text):
        shown, percent, lo, hi = match.groups()
        digits = len(shown.split(".")[1])
        scales = (100,) if percent else (1, 100, 1e3)
        if not any(
            close(shown, next(entry[k] for k in POINTS if k in entry), digits, scale)
            and close(lo, entry["lo"], digits, scale)
            and close(hi, entry["hi"], digits, scale)
            for entry in entries
            for scale in scales
        ):
            missing.append(match.group(0))
    return missing


PROSE = [(block, paths) for block, paths in cited_blocks() if not block.lstrip().startswith(("|", "<!--"))]


@pytest.mark.parametrize("block,paths", PROSE, ids=lambda v: v[:40] if isinstance(v, str) else None)
def test_each_interval_in_cited_prose_is_one_entry_of_its_results_files(block, paths):
    """Tables are written by bench/tables.py from their file; prose is written by hand, so its intervals are
    checked whole."""
    files = [json.loads((REPO / path).read_text()) for path in paths if (REPO / path).exists()]
    entries = [entry for data in files for entry in _entries(data, [])]
    missing = untraced_intervals(block, entries)
    assert not missing, f"intervals not in {paths}: {missing}\n---\n{block}"


def test_the_interval_checker_catches_an_interval_assembled_from_other_entries():
    entries = [{"value": 0.67, "lo": 0.2, "hi": 0.8}, {"value": 0.1, "lo": 0.07, "hi": 0.94}]
    assert untraced_intervals("TAP: 0.67 [0.20, 0.80] and 10% [7%, 94%]", entries) == []
    assert untraced_intervals("TAP: 0.67 [0.07, 0.94]", entries) == ["0.67 [0.07, 0.94]"]
    slope = [{"slope": -0.00036, "lo": -0.00989, "hi": 0.00927}]
    assert untraced_intervals("slope −0.0004 [−0.0099, +0.0093]", slope) == []
