"""Rendering of a publication: the planner report, CAP 1.2 messages and the HXL, GeoJSON and JSON exports."""
