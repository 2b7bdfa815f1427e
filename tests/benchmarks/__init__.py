"""Benchmarks: runnable scripts (``python -m tests.benchmarks.<name>``) that print one JSON line."""
