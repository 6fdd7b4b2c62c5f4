"""Pseudonymisation of PII with a keyed hash (HMAC-SHA256).

The key comes from ``RISKCAST_PII_KEY`` or the Airflow connection ``riskcast_pii``
(its password), never from code or a config file. The same key gives the same
pseudonym, so joins across days still work; without the key nobody can reverse it.

Only distinct values are hashed (a day has thousands of reports but a few hundred
reporters), so pseudonymising a column costs one dictionary encode plus a handful of
HMACs, not one HMAC per row.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from forecasting.core.config import Settings
from forecasting.core.errors import ConfigError

PII_CONN_ID = "riskcast_pii"
PSEUDONYM_HEX_CHARS = 16
MIN_KEY_BYTES = 16


def resolve_pii_key(settings: Settings) -> bytes:
    """The hashing key: settings (env ``RISKCAST_PII_KEY``), else Airflow connection."""
    if settings.pii_key is not None and settings.pii_key.get_secret_value():
        return _checked(settings.pii_key.get_secret_value().encode("utf-8"))
    try:
        from airflow.sdk import BaseHook

        secret = BaseHook.get_connection(PII_CONN_ID).password
    except Exception:  # noqa: BLE001 - no Airflow or no such connection: fall through
        secret = None
    if secret:
        return _checked(secret.encode("utf-8"))
    raise ConfigError(
        f"no PII hashing key: set RISKCAST_PII_KEY (at least {MIN_KEY_BYTES} characters) or the "
        f"password of the Airflow connection '{PII_CONN_ID}'"
    )


def optional_pii_key(settings: Settings) -> bytes | None:
    """The hashing key where one is configured, else None: a source without PII columns
    needs it only to pseudonymise what the PII screen finds (``ingest.screen``); without it
    those rows are held back instead."""
    try:
        return resolve_pii_key(settings)
    except ConfigError:
        return None


def pseudonym(value: str, key: bytes) -> str:
    """The pseudonym of one value: first 16 hex chars of HMAC-SHA256(key, value)."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """Keyed hash of each non-empty value (16 hex chars) as a ``string`` Series.

    Missing and empty values stay missing; the index is kept.
    """
    _checked(key)
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    hashed = np.array([_hash_or_none(str(u), key) for u in uniques] + [None], dtype=object)
    # code -1 (missing) picks the trailing None
    return pd.Series(hashed[codes], index=values.index, dtype="string")


def pseudonymise_array(values: pa.Array | pa.ChunkedArray, key: bytes) -> pa.Array:
    """Arrow version of :func:`pseudonymise`: string array in, string array out."""
    _checked(key)
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    encoded = arr.dictionary_encode()
    hashed = pa.array(
        [_hash_or_none(v, key) for v in encoded.dictionary.to_pylist()], type=pa.string()
    )
    # decoding a dictionary is cheaper than a gather through take()
    return pa.DictionaryArray.from_arrays(encoded.indices, hashed).cast(pa.string())


def _hash_or_none(value: str | None, key: bytes) -> str | None:
    return None if value is None or value == "" else pseudonym(value, key)


def _checked(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the PII hashing key must be at least {MIN_KEY_BYTES} characters long: set a longer "
            f"RISKCAST_PII_KEY or password of the Airflow connection '{PII_CONN_ID}'"
        )
    return key
