"""Benchmarks: synthetic UCDP GED at full and 10x size, timed through ingest -> panel -> features."""
