"""Airflow extensions for riskcast: alert notifiers and the Ray training launcher.

Only Airflow glue lives here; what an alert says and how training runs is in `forecasting`.
"""
