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
