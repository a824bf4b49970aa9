"""`tap study --quick` end to end: killed and resumed, rerun with nothing to do, a changed setting
rerunning only what depends on it, and the report opened in headless Chromium."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_tap

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("TAP_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _ok_rows(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(ledger) as db:
            return db.execute("SELECT COUNT(*) FROM labels WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is being created
        return 0


@pytest.fixture(scope="module")
def quick_study(default_world, tap_home, tmp_path_factory):
    """A quick study killed (SIGKILL) in its label stage, then resumed to the end."""
    run = tmp_path_factory.mktemp("study") / "quick"
    env = dict(os.environ, TAP_HOME=str(tap_home))
    log = tmp_path_factory.mktemp("study-log") / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tap.cli", "study", "--quick", "--out", str(run)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        deadline = time.time() + 300
        while _ok_rows(run / "labels.sqlite") < 4 and process.poll() is None and time.time() < deadline:
            time.sleep(0.2)
    if process.poll() is not None:
        pytest.fail(f"the study ended (exit {process.returncode}) before it could be killed: {log.read_text()[-2000:]}")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = _ok_rows(run / "labels.sqlite")
    resumed = run_tap("study", "--quick", "--out", str(run), env={"TAP_HOME": str(tap_home)})
    return run, killed_at, resumed


def test_killed_study_resumes_to_a_full_run_folder(quick_study):
    run, killed_at, resumed = quick_study
    assert 4 <= killed_at < 32, killed_at  # killed mid-labels
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert re.search(
        rf"labels\s+│\s+ran.*{32 - killed_at} label runs, {killed_at} already in the ledger", resumed.stdout
    ), resumed.stdout
    for name in (
        "config.toml",
        "items.parquet",
        "cohorts.parquet",
        "rollouts.parquet",
        "features.parquet",
        "labels.sqlite",
        "loop.parquet",
        "loop.json",
        "metrics.json",
        "predictions.parquet",
        "predictor.skops",
        "report.html",
        "study.json",
    ):
        assert (run / name).exists(), name
    assert _ok_rows(run / "labels.sqlite") == 32  # 16 cohorts x 2 seeds, none lost or doubled
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cohorts"] == 16 and metrics["seeds"] == 2 and metrics["headline"] == "TAP ridge R+F"
    assert "report: " in resumed.stdout and "TAP ridge R+F: grouped K-fold ρ" in resumed.stdout
    # the report says which label config its labels come from (readers take one)
    assert f"Labels: label config {metrics['label_config_hash']} only" in (run / "report.html").read_text()


def test_rerunning_a_finished_study_does_nothing(quick_study, tap_home):
    run, _, _ = quick_study
    before = (run / "report.html").stat().st_mtime_ns
    again = run_tap("study", "--quick", "--out", str(run), env={"TAP_HOME": str(tap_home)})
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert (run / "report.html").stat().st_mtime_ns == before


def test_a_changed_evaluation_setting_reruns_only_what_depends_on_it(quick_study, tap_home):
    run, _, _ = quick_study
    changed = run_tap(
        "study", "--quick", "--out", str(run), "--set", "evaluate.bootstrap=100", env={"TAP_HOME": str(tap_home)}
    )
    assert changed.returncode == 0, changed.stderr[-2000:]
    stages = json.loads((run / "study.json").read_text())["stages"]
    status = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in changed.stdout.splitlines()
        if line.count("│") >= 4
    }
    assert [status[s] for s in ("world", "rollouts", "features", "labels", "loop")] == ["reused"] * 5
    assert [status[s] for s in ("evaluate", "fit", "report")] == ["ran"] * 3
    assert json.loads((run / "metrics.json").read_text())["bootstrap"] == 100 and set(stages) >= {"evaluate", "report"}


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    return path


def _render(report: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=30000",
            *extra,
            report.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def _page_state(report: Path, profile: Path) -> tuple[dict, str]:
    result = _render(report, profile, "--enable-logging=stderr", "--v=0", "--dump-dom")
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body, result.stderr[-2000:]
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    return attributes, result.stderr


def test_report_renders_in_headless_chromium_without_errors(quick_study, tmp_path):
    run, _, _ = quick_study
    report = run / "report.html"
    text = report.read_text()
    assert not re.search(
        r"""<(script|link|img)[^>]+(src|href)=["']?https?://""", text
    )  # self-contained: nothing to fetch
    state, log = _page_state(report, tmp_path / "profile")
    assert state.get("data-errors") == "[]", state
    assert int(state["data-figures-expected"]) >= 9  # the quick study runs a small loop too
    assert state.get("data-figures-rendered") == state["data-figures-expected"], state
    console_errors = [
        line
        for line in log.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "ERROR" in line.split("CONSOLE")[0])
    ]
    assert not console_errors, console_errors
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    _render(report, tmp_path / "profile-shot", "--window-size=1300,7000", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 50_000


def test_the_report_answers_on_its_first_screen(quick_study, tmp_path):
    """The first screen (1300 x 900) holds the ranked cohorts, where the whole ranking is, one sentence and one
    small figure on how far to trust it; the full scorer table is below it and collapsed."""
    import json as _json

    run, _, _ = quick_study
    report = run / "report.html"
    result = _render(report, tmp_path / "profile", "--window-size=1300,900", "--dump-dom")
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body, result.stderr[-2000:]
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    first = set(_json.loads(attributes["data-first-screen"].replace("&quot;", '"')))
    assert {"ranked", "full-ranking", "trust", "fig-trust"} <= first, first
    assert not {"scorers-short", "scorers-all", "fig-predicted", "fig-lodo"} & first, first
    dom = result.stdout
    ranked = dom[dom.index("id=\"ranked\""):]
    ranked = ranked[:ranked.index("</table>")]
    assert ranked.count("<tr>") == 1 + 10 + 1  # header, top 5 and bottom 5 of 16, "… 6 more …"
    assert "P(lift &lt; 0)" in ranked  # each ranked cohort's held-out probability of harm
    trust = re.search(r'<p id="trust">(.*?)</p>', dom, flags=re.S).group(1)
    assert "TAP ridge R+F" in trust and "best of" in trust and "noise ceiling" in trust
    assert re.search(r"<details id=\"scorers-all\">", dom)  # collapsed: <details> without open
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report-first-screen.png"
    _render(report, tmp_path / "profile-shot", "--window-size=1300,900", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 30_000


def test_the_browser_check_catches_a_broken_page(quick_study, tmp_path):
    run, _, _ = quick_study
    broken = tmp_path / "broken.html"
    broken.write_text(
        (run / "report.html").read_text().replace("</body>", "<script>noSuchFunction();</script></body>", 1)
    )
    state, _ = _page_state(broken, tmp_path / "profile")
    assert "noSuchFunction" in state.get("data-errors", "")


def test_report_rebuilds_from_the_files_alone(quick_study, tmp_path):
    run, _, _ = quick_study
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "report.html").unlink()
    result = run_tap("report", str(copy), env={"TAP_HOME": str(tmp_path / "empty-home")})  # no cache: files only
    assert result.returncode == 0, result.stderr
    assert (copy / "report.html").stat().st_size > 1_000_000


def test_the_learning_curve_bench_runs_on_a_study_and_the_report_draws_it(quick_study, tap_home, tmp_path):
    run, _, _ = quick_study
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    done = subprocess.run([sys.executable, str(REPO / "bench" / "learning_curve.py"), str(copy), "--sizes", "8", "16",
                           "--subsamples", "2", "--jobs", "1"], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, TAP_HOME=str(tap_home)), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    curve = json.loads((copy / "learning_curve.json").read_text())
    assert curve["sizes"] == [8, 16] and {"TAP auto R+F", "TAP ridge R+F", "best feature R", "random"} <= set(
        curve["curves"]
    )
    assert len(curve["curves"]["random"]["sizes"]["8"]) == 3 and "above the best reward-only feature" in done.stdout
    rebuilt = run_tap("report", str(copy), env={"TAP_HOME": str(tap_home)})
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    state, _ = _page_state(copy / "report.html", tmp_path / "profile")
    assert "fig-learning" in (copy / "report.html").read_text()
    assert state.get("data-errors") == "[]" and state.get("data-figures-rendered") == state["data-figures-expected"], (
        state
    )
