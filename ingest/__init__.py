"""Ingest: real UCDP and ACLED files in their published layouts -> canonical events."""
