"""Tests of explainr.record (a package, so these module names cannot clash with other test folders)."""
