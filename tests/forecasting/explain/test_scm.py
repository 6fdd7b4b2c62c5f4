"""The causal model: a tiny synthetic SCM whose injected root cause must come out top-1."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.core import schema
from forecasting.explain.graph import NODES, ancestors
from forecasting.explain.scm import (
    AttributionOptions,
    attribute,
    attribute_once,
    fit_scm,
)
from tests.support.explain_nodes import synthetic_nodes, with_root_cause

FAST = AttributionOptions(seed=0, bootstrap=3, distribution_samples=500)


@pytest.fixture(scope="module")
def normal() -> pd.DataFrame:
    return synthetic_nodes(n=500, seed=0)


@pytest.mark.parametrize(
    ("cause", "shift", "target"),
    [
        (schema.NODE_THEFTS, 3.0, schema.NODE_INCIDENTS),
        (schema.NODE_COUNT_ERRORS, 3.0, schema.NODE_INCIDENTS),
        (schema.NODE_VALUE_MIX, 4.0, schema.NODE_LOSS_EUR),
    ],
)
def test_injected_root_cause_is_top1_with_an_interval(normal, cause, shift, target) -> None:
    week = with_root_cause(normal, cause, shift)
    out = attribute(normal, target, week, FAST)
    top = out.sort_values(schema.CONTRIBUTION, ascending=False).iloc[0]
    assert top[schema.EXPLAIN_NODE] == cause
    assert top[schema.CONTRIBUTION_LO] <= top[schema.CONTRIBUTION] <= top[schema.CONTRIBUTION_HI]
    assert set(out[schema.EXPLAIN_NODE]) == {*ancestors(target), target}


def test_fast_attribution_matches_gcm_attribute_anomalies(normal) -> None:
    from dowhy import gcm
    from dowhy.gcm.shapley import ShapleyApproximationMethods, ShapleyConfig

    from forecasting.explain.scm import _scorer

    week = with_root_cause(normal, schema.NODE_COUNT_ERRORS, 3.0)
    scm = fit_scm(normal)
    gcm.util.general.set_random_seed(1)
    ours = attribute_once(scm, schema.NODE_INCIDENTS, week, 300)
    gcm.util.general.set_random_seed(1)
    theirs = gcm.attribute_anomalies(
        scm, schema.NODE_INCIDENTS, week[list(NODES)], anomaly_scorer=_scorer(gcm),
        num_distribution_samples=300,
        shapley_config=ShapleyConfig(approximation_method=ShapleyApproximationMethods.EXACT, n_jobs=1),
    )  # fmt: skip
    for node, value in theirs.items():
        assert ours[node] == pytest.approx(value, abs=1e-9), node


def test_attribution_is_reproducible(normal) -> None:
    week = with_root_cause(normal, schema.NODE_THEFTS, 3.0)
    a = attribute(normal, schema.NODE_INCIDENTS, week, FAST)
    b = attribute(normal, schema.NODE_INCIDENTS, week, FAST)
    pd.testing.assert_frame_equal(a, b)
