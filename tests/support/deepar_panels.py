"""Tiny weekly panels in the panel contract, for the model, train and forecast tests.

Real panels come from ``forecasting.panel.build.build_panel``; these are built directly in its
shape (``unique_id, ds, y, sqft_log, region, country, is_holiday, is_future``) so each
test controls the edge it exercises.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date

import numpy as np
import pandas as pd

from forecasting.core import schema as S
from forecasting.core.lake import Lake, join
from forecasting.core.panel_spec import PanelSpec

SPEC = PanelSpec(
    freq="W-MON",
    static_real=(S.SQFT_LOG,),
    static_cat=(S.REGION, S.COUNTRY),
    dynamic_real=(S.IS_HOLIDAY,),
    target=S.ESTIMATED_THEFTS,
)
AS_OF = date(2024, 3, 4)  # a Monday: history ends the week before
HORIZON = 4
TINY_MODEL = {
    "max_epochs": 2,
    "batches_per_epoch": 2,
    "batch_size": 8,
    "num_samples": 20,
    "hidden_size": 8,
    "num_layers": 1,
    "patience": 2,
    "dropout_rate": 0.0,
}


def tiny_settings(settings_factory, **overrides):
    """Settings for a fit of a few batches (``model`` overrides merge into TINY_MODEL)."""
    model = {**TINY_MODEL, **overrides.pop("model", {})}
    return settings_factory(horizon=HORIZON, model=model, **overrides)


def make_panel(
    n_series: int = 4,
    periods: int = 40,
    horizon: int = HORIZON,
    *,
    cold_start: str | None = "WH-NEW",
    cold_region: str = "north",
    seed: int = 0,
) -> pd.DataFrame:
    """``n_series`` warehouses with Poisson counts (rate 1..n) over ``periods`` weeks ending
    the week before AS_OF, ``horizon`` covariate-only future rows each, and optionally a
    site that opens in the horizon (future rows only)."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(AS_OF) - pd.Timedelta(weeks=1)
    ds = pd.date_range(end=end, periods=periods, freq="W-MON")
    future = pd.date_range(pd.Timestamp(AS_OF), periods=horizon, freq="W-MON")
    frames = []
    for i in range(n_series):
        frames.append(_site(f"WH-{i:02d}", ds, future, rng.poisson(1.0 + i, periods),
                            sqft=20_000 * (i + 1), region=("north", "south")[i % 2]))
    if cold_start:
        frames.append(_site(cold_start, ds[:0], future, [], sqft=60_000, region=cold_region))
    return pd.concat(frames, ignore_index=True)


def _site(uid, ds, future, y, *, sqft, region, country="DE") -> pd.DataFrame:
    all_ds = ds.append(future)
    n_hist = len(ds)
    return pd.DataFrame({
        S.UNIQUE_ID: uid,
        S.DS: all_ds,
        S.Y: np.concatenate([np.asarray(y, dtype="float64"), np.full(len(future), np.nan)]),
        S.SQFT_LOG: np.log(sqft),
        S.REGION: region,
        S.COUNTRY: country,
        S.IS_HOLIDAY: (all_ds.isocalendar().week.to_numpy() % 13 == 0).astype("float64"),
        S.IS_FUTURE: np.arange(len(all_ds)) >= n_hist,
    })


def write_lake_panel(settings, df: pd.DataFrame, spec: PanelSpec = SPEC, as_of: date = AS_OF) -> str:
    """Write ``panel.parquet`` + ``summary.json`` where ``read_panel`` looks; the snapshot id."""
    lake = Lake.from_settings(settings)
    out = lake.stage("panel", as_of)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    snapshot = hashlib.sha256(buf.getvalue()).hexdigest()
    lake.write_bytes(join(out, "panel.parquet"), buf.getvalue())
    lake.write_json(join(out, "summary.json"), {"spec": spec.to_dict(), "snapshot_id": snapshot})
    return snapshot


def moto_server():
    """Start moto's standalone S3 on loopback; (server, endpoint URL). Stop it when done."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def use_s3(monkeypatch, tmp_path, endpoint: str, bucket: str) -> str:
    """Point AWS env at the moto endpoint (and nothing else), create ``bucket``; its URI."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/lake"
