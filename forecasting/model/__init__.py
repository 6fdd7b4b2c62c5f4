"""DeepAR (negative binomial) on GluonTS torch and the ensemble members beside it.

Modules, in data-flow order: ``dataset`` (panel -> GluonTS entries) with ``encoders``,
``estimator`` (flat config -> ``DeepAREstimator``), ``trainer`` (the Lightning side: loaders,
callbacks, the in-process fit), ``distributed`` (the Ray Train job), ``fit`` (``fit_model``:
early stop, refit, pooling), ``deepar`` (``FittedModel``: predict, save, load), ``quiet``
(warnings, threads), ``samples`` (``ForecastSamples``), ``shards`` (sample paths by series),
``members/`` (the members beside DeepAR: ``local_nb``, ``gbm`` + its ``features``),
``mixture`` (the ensemble of member paths), ``registry`` (``models/<version>/``).

Nothing is re-exported here: import from the module that holds a name. torch, gluonts,
lightning and ray are imported inside the functions that need them.
"""
