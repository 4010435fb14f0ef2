"""Publish: the scores store, alert rules, rendering and the weekly publication (one subpackage each)."""
