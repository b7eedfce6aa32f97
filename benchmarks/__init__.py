"""Benchmarks: each figure is measured as a ratio to an anchor taken in the same run.

Run with `make bench` (= `python -m benchmarks`); results go to docs/benchmarks.md.
Not part of `make test`.
"""
