"""Experiments: typed experiment configs (TOML in configs/) and the results generator."""
