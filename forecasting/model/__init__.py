"""DeepAR (negative binomial) on GluonTS torch: datasets, estimator, fitted model, registry.

Modules, in data-flow order: ``dataset`` (panel -> GluonTS entries, encoders),
``estimator`` (flat config -> ``DeepAREstimator``), ``fitting`` (Lightning loaders and
callbacks, in-process fit), ``distributed`` (the Ray Train job), ``fit`` (``fit_model``),
``quiet`` (warnings, threads), ``fitted`` (``FittedModel``: predict, save, load),
``samples`` (``ForecastSamples``), ``registry`` (``models/<version>/``).

Names are re-exported lazily so ``import forecasting.model`` stays light (no torch).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Encoders": "dataset",
    "build_estimator": "estimator",
    "model_config": "estimator",
    "fit_model": "fit",
    "FittedModel": "fitted",
    "ForecastSamples": "samples",
    "register_model": "registry",
    "load_predictor": "registry",
    "list_models": "registry",
    "set_gate_status": "registry",
    "gate_status": "registry",
    "require_gate": "registry",
    "resolve_version": "registry",
    "read_manifest": "registry",
    "model_version": "registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"forecasting.model.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'forecasting.model' has no attribute {name!r}")
