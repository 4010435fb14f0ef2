"""Plug-ins from outside the civrisk packages, as a user would write them (docs/BACKTEST.md, FEATURES.md)."""
