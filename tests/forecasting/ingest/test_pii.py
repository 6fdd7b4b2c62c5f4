"""PII pseudonymisation: keyed, deterministic, missing stays missing, unique values hashed once."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pyarrow as pa
import pytest

from forecasting.core.errors import ConfigError
from forecasting.ingest import pii

KEY = b"0123456789abcdef-test"


def test_pseudonym_is_the_truncated_hmac_sha256():
    expected = hmac.new(KEY, b"EMP-70001", hashlib.sha256).hexdigest()[:16]
    assert pii.pseudonym("EMP-70001", KEY) == expected
    assert pii.pseudonym("EMP-70001", KEY + b"x") != expected


def test_pseudonymise_keeps_index_and_missing_values():
    values = pd.Series(["EMP-1", None, "", "EMP-2", "EMP-1", pd.NA], index=[10, 11, 12, 13, 14, 15])
    out = pii.pseudonymise(values, KEY)
    assert str(out.dtype) == "string" and list(out.index) == list(values.index)
    assert out.isna().tolist() == [False, True, True, False, False, True]
    assert out[10] == out[14] == pii.pseudonym("EMP-1", KEY) and out[13] != out[10]
    assert all(len(v) == pii.PSEUDONYM_HEX_CHARS for v in out.dropna())


def test_arrow_and_pandas_versions_agree():
    values = ["EMP-1", None, "", "EMP-2", "EMP-1"]
    arrow = pii.pseudonymise_array(pa.chunked_array([values[:2], values[2:]]), KEY)
    assert (
        arrow.to_pylist()
        == pii.pseudonymise(pd.Series(values), KEY)
        .astype(object)
        .where(lambda x: x.notna(), None)
        .tolist()
    )


def test_each_distinct_value_is_hashed_once(monkeypatch):
    calls = []
    real = pii.hmac.new

    def counting(key, msg, digestmod):  # spy: counts, then runs the real HMAC
        calls.append(msg)
        return real(key, msg, digestmod)

    monkeypatch.setattr(pii.hmac, "new", counting)
    values = [f"EMP-{i % 7}" for i in range(10_000)]
    pii.pseudonymise_array(pa.array(values), KEY)
    assert len(calls) == 7
    calls.clear()
    pii.pseudonymise(pd.Series(values), KEY)
    assert len(calls) == 7


def test_short_key_is_refused():
    with pytest.raises(ConfigError, match="at least 16 characters"):
        pii.pseudonymise(pd.Series(["a"]), b"short")


def test_key_from_settings(settings_factory):
    from tests.support.keys import TEST_PII_KEY

    assert pii.resolve_pii_key(settings_factory()) == TEST_PII_KEY.encode()


@pytest.mark.slow  # imports Airflow
@pytest.mark.timeout(120)
def test_key_from_the_airflow_connection_or_a_clear_error(settings_factory, monkeypatch):
    monkeypatch.delenv("RISKCAST_PII_KEY", raising=False)
    settings = settings_factory()
    with pytest.raises(ConfigError, match="RISKCAST_PII_KEY.*riskcast_pii"):
        pii.resolve_pii_key(settings)
    # Airflow resolves AIRFLOW_CONN_<ID> env vars as connections (its env secrets backend)
    monkeypatch.setenv(
        "AIRFLOW_CONN_RISKCAST_PII",
        '{"conn_type": "generic", "password": "from-airflow-0123456789"}',
    )
    assert pii.resolve_pii_key(settings) == b"from-airflow-0123456789"
