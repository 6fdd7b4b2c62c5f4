"""Ensemble members beside DeepAR, one module each, with one contract:
``fit(train, spec, settings, *, seed, horizon)`` then ``.predict(panel, num_samples)`` ->
sample paths on DeepAR's series and periods (``forecasting.model.mixture.MEMBER_FITS``).

``local_nb``: a per-series negative binomial; ``gbm``: one global LightGBM count model, with
``features`` (its lags, rolling means, calendar and covariates).
"""
