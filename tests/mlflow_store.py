"""A throwaway MLflow SQLite store per test module, copied from one migrated template per test session.

Creating MLflow's SQLite schema takes seconds; copying a migrated file takes milliseconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def _template(factory: pytest.TempPathFactory) -> Path:
    """Return a migrated, empty MLflow SQLite file, created once per test session."""
    path = factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not path.is_file():
        from mlflow.tracking import MlflowClient

        path.parent.mkdir(parents=True, exist_ok=True)
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # creates and migrates the schema
    return path


def fresh_store(factory: pytest.TempPathFactory, name: str) -> str:
    """Return the tracking URI of a new store (artifacts beside it) copied from the session template."""
    folder = factory.mktemp(name)
    shutil.copyfile(_template(factory), folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"
