"""Plug-ins by import path: models and feature families users add without editing civrisk.

An experiment config names a plug-in as ``"package.module:name"``; :func:`import_object` finds it and says
what is wrong when it cannot (docs/BACKTEST.md and docs/FEATURES.md show worked examples).
"""

from __future__ import annotations

import importlib


class PluginError(ValueError):
    """A plug-in path does not name a usable function or class, or it returned a wrong table."""


def import_object(path: str, what: str) -> object:
    """Return the object ``path`` ("package.module:name") names; PluginError saying what is wrong."""
    module_name, sep, attr = str(path).partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"{what} {path!r}: expected 'package.module:name', e.g. 'my_models.lgbm:LGBM'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"{what} {path!r}: cannot import module {module_name!r} ({exc}); install the package that "
            "holds it or add its folder to PYTHONPATH"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"{what} {path!r}: module {module_name!r} has no attribute {attr!r}") from None
