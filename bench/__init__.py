"""Benchmarks run from the command line (not imported by the app): `python -m bench`, `python -m bench.load`."""
