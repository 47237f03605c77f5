"""Benchmarks run from the command line (not imported by the app): `python -m bench.load`."""
