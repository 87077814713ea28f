"""Tests of explainr.adapters (a package, so these module names cannot clash with others)."""
