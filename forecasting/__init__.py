"""Forecasting: targets, models, calibration, metrics, rolling-origin backtests and MLflow tracking."""
