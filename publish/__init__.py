"""Publish: scores store, weekly publication, planner report, alerts (CAP 1.2) and exports."""
