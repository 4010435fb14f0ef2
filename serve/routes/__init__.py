"""One router per resource (weeks, scores, regions, alerts, reports, health, admin)."""
