"""Fixtures of the report tests (defined in report_helpers.py)."""

from report_helpers import forecast

__all__ = ["forecast"]
