"""Stored backtest windows, reused by later backtests: a window's forecasts and DeepAR weights.

A window's forecasts (DeepAR's and the members' sample paths, the baselines' quantile
frames) depend on three things only: its cutoff, the input data it sees (training rows,
forecast context and known covariates up to its horizon, all cut at the cutoff:
``WindowFrames``) and the configuration (model settings, horizon, seed, paths, members,
fit functions, ``STORE_VERSION``). A window is stored under
``backtest_windows/<config digest>/cutoff=D/<data digest>/`` (``core.layout``)::

    window.json       cutoff, digests, what it was warm-started from, members' failures,
                      baselines held, phase seconds, sha256 of each file below (written last:
                      a folder without it is incomplete and ignored)
    forecasts.npz     sample paths per model (deepar and each member): ids, starts, samples
    baselines.parquet the baselines' forecast frames (unscored), column ``model``
    weights.pt        DeepAR's networks' state dicts (the next window starts from them)

A later backtest whose window has the same cutoff, data digest and configuration loads it
instead of fitting; only scoring runs again (against the actuals of today's panel). A
restated day changes the data digest of exactly the windows whose cutoff is on or after it
(and whose inputs therefore changed); earlier windows are still found. Files are checked
against their sha256 before use and weights load with ``weights_only``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import forecasting
from forecasting.backtest.windows import WindowFrames
from forecasting.core.config import Settings
from forecasting.core.lake import Lake, join
from forecasting.core.layout import (
    WINDOW_BASELINES_FILE,
    WINDOW_FILE,
    WINDOW_FORECASTS_FILE,
    WINDOW_WEIGHTS_FILE,
)
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import DS, MODEL, UNIQUE_ID
from forecasting.model.samples import ForecastSamples

log = logging.getLogger(__name__)

STORE_VERSION = 1  # bump when a window's computation changes in a way settings do not show
DEEPAR_KEY = "deepar"
_DIGEST = 20  # hex characters kept of a sha256
_LOOKBACK = 3  # earlier stored cutoffs tried as a first window's warm start


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _callable_name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def config_digest(settings: Settings, spec: PanelSpec, *, horizon: int, seed: int, num_samples: int,
                  deepar: bool, fit: Any, member_fits: dict[str, Any]) -> str:
    """What besides the data decides a window's forecasts, hashed (``_DIGEST`` hex)."""
    key = {
        "store": STORE_VERSION, "code": forecasting.__version__, "model": settings.flat()["model"],
        "warm": [settings.backtest_warm_start, settings.backtest_warm_patience], "horizon": horizon,
        "seed": seed, "paths": num_samples, "deepar": deepar,
        "spec": {k: v for k, v in spec.to_dict().items() if k != "extra"},  # extra: where it came from
        "fit": _callable_name(fit), "member_fits": {m: _callable_name(f) for m, f in sorted(member_fits.items())},
    }
    return _sha(json.dumps(key, sort_keys=True, default=str).encode())[:_DIGEST]


def _frame_bytes(df: pd.DataFrame) -> bytes:
    cols = sorted(df.columns)
    df = df[cols].sort_values([UNIQUE_ID, DS], kind="stable").reset_index(drop=True)
    head = json.dumps([[c, str(df[c].dtype)] for c in cols]).encode()
    return head + pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()


def data_digest(win: WindowFrames) -> str:
    """The window's inputs, hashed: training rows, context (with known covariates over the
    horizon) and history, all cut at the cutoff; actuals after it are not inputs."""
    h = hashlib.sha256(str(pd.Timestamp(win.cutoff).date()).encode())
    for frame in (win.train, win.context, win.history):
        h.update(_frame_bytes(frame))
    return h.hexdigest()[:_DIGEST]


@dataclass
class StoredWindow:
    """Where a window is (or would be) stored, and its ``window.json`` once read."""

    uri: str
    cutoff: pd.Timestamp
    data: str
    meta: dict | None = None


class WindowStore:
    """Windows of one configuration in one lake (``Lake.backtest_windows``)."""

    def __init__(self, lake: Lake, config: str) -> None:
        self.lake, self.config = lake, config

    def locate(self, win: WindowFrames) -> StoredWindow:
        cutoff = pd.Timestamp(win.cutoff)
        data = data_digest(win)
        entry = StoredWindow(self.lake.backtest_windows(self.config, cutoff.date(), data), cutoff, data)
        meta_uri = join(entry.uri, WINDOW_FILE)
        if self.lake.exists(meta_uri):
            entry.meta = self.lake.read_json(meta_uri)
        return entry

    def earlier_cutoffs(self, cutoff: pd.Timestamp) -> list[pd.Timestamp]:
        """Stored cutoffs before ``cutoff``, newest first (at most ``_LOOKBACK``)."""
        names = self.lake.ls(self.lake.backtest_windows(self.config))
        days = sorted((pd.Timestamp(n.split("=", 1)[1]) for n in names if n.startswith("cutoff=")), reverse=True)
        return [d for d in days if d < cutoff][:_LOOKBACK]

    # ------------------------------------------------------------------ read
    def _checked(self, entry: StoredWindow, name: str) -> bytes:
        data = self.lake.read_bytes(join(entry.uri, name))
        want = (entry.meta or {}).get("sha256", {}).get(name)
        if want != _sha(data):
            raise ValueError(f"{join(entry.uri, name)} does not match the sha256 in its {WINDOW_FILE}")
        return data

    def load_forecasts(self, entry: StoredWindow, freq: str) -> tuple[Any, dict[str, Any], dict[str, pd.DataFrame]]:
        """(DeepAR samples or None, members {name: samples or failure reason}, baselines)."""
        meta = entry.meta or {}
        with np.load(io.BytesIO(self._checked(entry, WINDOW_FORECASTS_FILE)), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        deepar = _samples(arrays, DEEPAR_KEY, freq, meta.get("capped", 0)) if meta.get("deepar") else None
        members = {m: (_samples(arrays, m, freq) if r == "ok" else r) for m, r in meta.get("member_status", {}).items()}
        base: dict[str, pd.DataFrame] = {}
        if meta.get("baselines"):
            frame = pd.read_parquet(io.BytesIO(self._checked(entry, WINDOW_BASELINES_FILE)))
            base = {str(m): g.drop(columns=MODEL).reset_index(drop=True) for m, g in frame.groupby(MODEL, sort=False)}
        return deepar, members, base

    def load_weights(self, entry: StoredWindow) -> list[dict] | None:
        """DeepAR's networks' state dicts of a stored window (None when it has none)."""
        import torch

        if not (entry.meta or {}).get("weights"):
            return None
        data = self._checked(entry, WINDOW_WEIGHTS_FILE)
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

    # ------------------------------------------------------------------ write
    def save(self, entry: StoredWindow, *, deepar: Any, members: dict[str, Any], baselines: dict[str, pd.DataFrame],
             weights: list[dict] | None, info: dict[str, Any]) -> None:
        """Write the window's files, then ``window.json`` (with their sha256) last."""
        files: dict[str, bytes] = {}
        arrays: dict[str, np.ndarray] = {}
        if deepar is not None:
            arrays.update(_arrays(DEEPAR_KEY, deepar))
        status = {}
        for name, fs in members.items():
            status[name] = fs if isinstance(fs, str) else "ok"
            if not isinstance(fs, str):
                arrays.update(_arrays(name, fs))
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        files[WINDOW_FORECASTS_FILE] = buf.getvalue()
        if baselines:
            frame = pd.concat([f.assign(**{MODEL: m}) for m, f in baselines.items()], ignore_index=True)
            buf = io.BytesIO()
            frame.to_parquet(buf, index=False)
            files[WINDOW_BASELINES_FILE] = buf.getvalue()
        if weights:
            import torch

            buf = io.BytesIO()
            torch.save(weights, buf)
            files[WINDOW_WEIGHTS_FILE] = buf.getvalue()
        for name, data in files.items():
            self.lake.write_bytes(join(entry.uri, name), data)
        entry.meta = {
            **info, "store_version": STORE_VERSION, "config": self.config, "data": entry.data,
            "cutoff": str(entry.cutoff.date()), "deepar": deepar is not None,
            "capped": int(getattr(deepar, "capped", 0)) if deepar is not None else 0,
            "member_status": status, "baselines": sorted(baselines), "weights": bool(weights),
            "sha256": {name: _sha(data) for name, data in files.items()},
        }
        self.lake.write_json(join(entry.uri, WINDOW_FILE), entry.meta)


def _arrays(name: str, fs: Any) -> dict[str, np.ndarray]:
    samples = np.asarray(fs.samples, dtype="float32")
    if samples.size and np.array_equal(samples, np.round(samples)) and 0 <= samples.min() and samples.max() < 2**16:
        samples = samples.astype("uint16")  # counts: exact, and a tenth of the bytes once compressed
    return {
        f"{name}__ids": np.asarray([str(i) for i in fs.ids]),
        f"{name}__starts": pd.DatetimeIndex(fs.starts).asi8,
        f"{name}__samples": samples,
        f"{name}__cold": np.asarray([str(i) for i in getattr(fs, "cold_start", ())], dtype=str),
    }


def _samples(arrays: dict[str, np.ndarray], name: str, freq: str, capped: int = 0) -> ForecastSamples:
    starts = list(pd.DatetimeIndex(arrays[f"{name}__starts"]))
    return ForecastSamples([str(i) for i in arrays[f"{name}__ids"]], starts,
                           arrays[f"{name}__samples"].astype("float32"), freq, int(capped),
                           tuple(str(i) for i in arrays[f"{name}__cold"]))
