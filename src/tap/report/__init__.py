"""The HTML report of a run folder (tap report RUN_DIR)."""

from tap.report.html import build_report

__all__ = ["build_report"]
