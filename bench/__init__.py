"""Benchmarks with floors measured in the same run (issue 6). Run: python -m bench --help."""
