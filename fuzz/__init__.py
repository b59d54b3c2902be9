"""Fuzz targets, atheris harnesses and the runner: see fuzz/run.py and docs/benchmarks.md."""
