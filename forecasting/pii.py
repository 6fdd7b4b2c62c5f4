"""Pseudonymisation of PII with a keyed hash (HMAC-SHA256).

The key comes from ``RISKCAST_PII_KEY`` or the Airflow connection ``riskcast_pii``
(its password), never from code or a config file. The same key gives the same
pseudonym, so joins across days still work; without the key nobody can reverse it.
"""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd

from forecasting.config import Settings
from forecasting.errors import ConfigError

PII_CONN_ID = "riskcast_pii"
PSEUDONYM_HEX_CHARS = 16


def resolve_pii_key(settings: Settings) -> bytes:
    """The hashing key: settings (env ``RISKCAST_PII_KEY``), else Airflow connection."""
    if settings.pii_key is not None and settings.pii_key.get_secret_value():
        return settings.pii_key.get_secret_value().encode("utf-8")
    try:
        from airflow.sdk import BaseHook

        secret = BaseHook.get_connection(PII_CONN_ID).password
        if secret:
            return secret.encode("utf-8")
    except Exception:  # noqa: BLE001 - no Airflow or no such connection: fall through
        pass
    raise ConfigError(
        "no PII hashing key: set RISKCAST_PII_KEY (at least 16 characters) or the password "
        f"of the Airflow connection '{PII_CONN_ID}'"
    )


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """Keyed hash of each non-empty value (16 hex chars); missing stays missing."""
    if len(key) < 16:
        raise ConfigError("the PII hashing key must be at least 16 characters long")

    def _one(v: object) -> object:
        if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA or str(v) == "":
            return None
        digest = hmac.new(key, str(v).encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX_CHARS]

    return values.map(_one).astype("string")
