"""Causal mechanisms, outlier scores and Shapley attributions (DoWhy ``gcm``).

- ``fit_scm``: an ``InvertibleStructuralCausalModel`` on ``graph.EDGES``: root nodes take
  their empirical distribution, every other node an additive-noise linear model (the
  nodes are measured so that incidents = thefts + count errors and loss = incidents +
  value mix hold exactly: ``explain.nodes``). Fixed mechanisms (no model selection) keep
  the fit fast and the result reproducible.
- outlier scores (which weeks to attribute, and to which watched node): ``explain.scores``.
- ``attribute``: ``gcm.attribute_anomalies`` (exact Shapley over the target's upstream
  noise) for every outlier week of one target node, with a bootstrap interval from
  ``gcm.confidence_intervals(gcm.fit_and_compute(...))`` (refits on 75% subsets).

``dowhy`` takes seconds to import: it is imported inside the functions that need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core import schema
from forecasting.explain.graph import EDGES, NODES, parents


@dataclass(frozen=True)
class AttributionOptions:
    """How hard ``attribute`` works; the defaults keep the demo network under a minute."""

    seed: int = 0
    bootstrap: int = 10  # refits for the interval
    confidence: float = 0.9
    distribution_samples: int = 1000  # draws of the target's marginal for the IT score


def fit_scm(train: pd.DataFrame, seed: int = 0) -> Any:
    """Fit the graph's mechanisms on ``train`` (columns ``NODES``, no NaN)."""
    from dowhy import gcm

    gcm.config.disable_progress_bars()
    gcm.config.default_n_jobs = 1  # joblib worker processes cost more than they save here
    gcm.util.general.set_random_seed(seed)
    scm = gcm.InvertibleStructuralCausalModel()
    scm.graph.add_nodes_from(NODES)
    scm.graph.add_edges_from(EDGES)
    for node in NODES:
        if not parents(node):
            scm.set_causal_mechanism(node, gcm.EmpiricalDistribution())
        else:
            scm.set_causal_mechanism(node, gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor()))
    gcm.fit(scm, train[list(NODES)])
    return scm


def attribute(
    train: pd.DataFrame, target: str, anomalies: pd.DataFrame, options: AttributionOptions
) -> pd.DataFrame:
    """Contributions of the target's upstream nodes (and itself) to each anomaly row.

    The bootstrap refits the mechanisms on ``options.bootstrap`` random 75% subsets of
    ``train`` (as ``gcm.fit_and_compute`` does) and attributes the anomalies under each fit.
    Out: one row per (anomaly row index, node): ``node``, ``contribution`` (median over the
    refits), ``contribution_lo``, ``contribution_hi`` (equal-tailed ``options.confidence``
    interval); the index is ``anomalies``'.
    """
    rng = np.random.default_rng(options.seed)
    size = max(2, int(0.75 * len(train)))
    runs = []
    for b in range(options.bootstrap):
        rows = np.sort(rng.choice(len(train), size=size, replace=False))
        scm = fit_scm(train.iloc[rows], options.seed + b)
        runs.append(attribute_once(scm, target, anomalies, options.distribution_samples))
    nodes = list(runs[0])
    stack = np.stack([np.column_stack([r[n] for n in nodes]) for r in runs])  # (B, rows, nodes)
    tail = (1 - options.confidence) / 2
    med, lo, hi = (np.quantile(stack, q, axis=0) for q in (0.5, tail, 1 - tail))
    out = [
        pd.DataFrame({
            schema.EXPLAIN_NODE: node, schema.CONTRIBUTION: med[:, j],
            schema.CONTRIBUTION_LO: lo[:, j], schema.CONTRIBUTION_HI: hi[:, j],
        }, index=anomalies.index)  # fmt: skip
        for j, node in enumerate(nodes)
    ]
    return pd.concat(out)


def attribute_once(scm: Any, target: str, anomalies: pd.DataFrame, samples: int) -> dict[str, np.ndarray]:
    """``gcm.attribute_anomalies`` for a fitted ``scm``, with a vectorised noise-to-target map.

    Same steps as gcm's function (reconstructed noise of the anomalies, noise samples of
    the target's ancestors, exact Shapley values of the IT score with gcm's
    ``attribute_anomaly_scores``); only the map from noise to the target is computed with
    numpy along ``graph.NODES`` (gcm's generic one builds data frames per call: 30x slower).
    Returns node -> contributions, one per anomaly row.
    """
    from dowhy import gcm
    from dowhy.gcm._noise import (
        compute_noise_from_data,
        get_noise_dependent_function,
        noise_samples_of_ancestors,
    )
    from dowhy.gcm.anomaly import attribute_anomaly_scores
    from dowhy.gcm.shapley import ShapleyApproximationMethods, ShapleyConfig
    from dowhy.graph import get_ordered_predecessors

    noise = compute_noise_from_data(scm, anomalies[list(NODES)])
    node_samples, noise_samples = noise_samples_of_ancestors(scm, target, samples)
    _, order = get_noise_dependent_function(scm, target)
    order = list(order)
    mechanisms = {
        n: (_predictor(scm.causal_mechanism(n)), get_ordered_predecessors(scm.graph, n))
        for n in order
    }

    def target_of(noise_values: np.ndarray) -> np.ndarray:
        values: dict[str, np.ndarray] = {}
        for n in [m for m in NODES if m in mechanisms]:
            e = noise_values[:, order.index(n)]
            predict, ps = mechanisms[n]
            if ps:
                e = predict(np.column_stack([values[p] for p in ps])) + e
            values[n] = e
        return values[target]

    scorer = _scorer(gcm)
    scorer.fit(node_samples[target].to_numpy())
    contributions = attribute_anomaly_scores(
        noise[order].to_numpy(), noise_samples[order].to_numpy(),
        lambda x: scorer.score(target_of(x)), False,
        ShapleyConfig(approximation_method=ShapleyApproximationMethods.EXACT, n_jobs=1),
    )  # fmt: skip
    return {n: contributions[:, i] for i, n in enumerate(order)}


def _predictor(mechanism: Any) -> Any:
    """numpy prediction of an additive-noise mechanism (sklearn's predict checks cost ms)."""
    model = getattr(mechanism, "prediction_model", None)
    if model is None:
        return None
    linear = model.sklearn_model
    coef, intercept = np.asarray(linear.coef_, dtype=float).reshape(-1), float(np.ravel(linear.intercept_)[0])
    return lambda X: np.asarray(X, dtype=float) @ coef + intercept


def _scorer(gcm: Any) -> Any:
    """gcm's ``MedianCDFQuantileScorer`` computed by sorting: O(n log n) instead of n x m."""

    class SortedMedianCDFQuantileScorer(gcm.anomaly_scorers.AnomalyScorer):
        ref: np.ndarray

        def fit(self, X: np.ndarray) -> None:
            self.ref = np.sort(np.asarray(X, dtype=float).reshape(-1))

        def score(self, X: np.ndarray) -> np.ndarray:
            x, n = np.asarray(X, dtype=float).reshape(-1), len(self.ref)
            less = np.searchsorted(self.ref, x, side="left") / n
            equal = np.searchsorted(self.ref, x, side="right") / n - less
            greater = 1.0 - less - equal
            return 1.0 - 2.0 * np.minimum(less + equal / 2, greater + equal / 2)

    return SortedMedianCDFQuantileScorer()
