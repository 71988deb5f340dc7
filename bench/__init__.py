"""Benchmarks: timing goals live here, not in the tests. Run with `make bench`."""
