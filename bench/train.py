"""Training and forecast throughput: plain GluonTS vs riskcast (in process, Ray 1 and 2 workers).

    .venv/bin/python bench/train.py [--series 200 --weeks 156 --epochs 5 --batches 50]
                                    [--workers 1 2] [--gpu] [--json out.json]

With ``--gpu`` every Ray worker takes one GPU: on a 1-GPU machine use ``--workers 1``.

Every phase runs in its own subprocess on the same seeded synthetic weekly panel (the
sample network's shape: sqft, region, country, 4 calendar covariates) with the same
network, epochs, batches and batch size:

- ``gluonts``: ``DeepAREstimator.train_model`` in one process (the reference), with 1
  torch thread like riskcast (``model.num_threads``); ``gluonts-mt`` is the same with
  torch's default threads (all cores).
- ``inproc``: ``fit_model(use_ray=False)``.
- ``ray-N``: ``fit_model(use_ray=True)`` with N Ray Train workers (local Ray started
  inside the phase, so its start-up is in the end-to-end time).

Training throughput is windows (samples) per second: ``epochs x batches x batch_size``
over the fit loop's time (``fit``) and over the whole phase (``e2e``: data prep, Ray and
worker start-up, checkpoints). Forecast time per series is at equal sample count for the
plain GluonTS predictor (given ready entries) and ``FittedModel.predict`` (which also
converts the panel to entries and checks the forecasts), fastest of 3 after a warm-up. Peak memory is the PSS of the phase's whole process
tree (driver, Ray's daemons and workers), sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from forecasting.core import schema as S
from forecasting.core.panel_spec import PanelSpec  # noqa: E402

SPEC = PanelSpec(freq="W-MON", static_real=S.PANEL_STATIC_REAL, static_cat=S.PANEL_STATIC_CAT,
                 dynamic_real=S.PANEL_DYNAMIC_REAL)


def make_panel(series: int, weeks: int, horizon: int, seed: int = 0) -> pd.DataFrame:
    """A seeded weekly panel: Poisson-gamma counts with seasonality and peak weeks."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2021-01-04", periods=weeks + horizon, freq="W-MON")
    t = np.arange(len(ds))
    peak = (ds.isocalendar().week.to_numpy() >= 47).astype(float)
    frames = []
    for i in range(series):
        level = rng.gamma(2.0, 1.0)
        rate = level * (1 + 0.3 * np.sin(2 * np.pi * t / 52 + i)) * (1 + 0.8 * peak)
        y = rng.poisson(rng.gamma(5.0, rate / 5.0)).astype(float)
        y[weeks:] = np.nan
        frames.append(pd.DataFrame({
            S.UNIQUE_ID: f"WH-{i:04d}", S.DS: ds, S.Y: y,
            S.SQFT_LOG: np.log(rng.uniform(5e3, 2e5)),
            S.REGION: f"R{i % 5}", S.COUNTRY: f"C{i % 12}",
            S.IS_LAUNCH: (t % 26 == 3).astype(float), S.IS_PEAK: peak,
            S.IS_HOLIDAY: (t % 13 == 0).astype(float), S.SITE_AGE_YEARS: t / 52.0,
            S.IS_FUTURE: t >= weeks,
        }))
    return pd.concat(frames, ignore_index=True)


def _settings(args, workers: int):
    from forecasting.core.config import load_settings

    return load_settings(
        None, lake_uri=os.path.abspath(args.lake), horizon=args.horizon,
        ray={"num_workers": max(workers, 1), "use_gpu": args.gpu},
        model={"max_epochs": args.epochs, "batches_per_epoch": args.batches,
               "batch_size": args.batch_size, "patience": args.epochs + 1,
               "num_samples": args.samples,
               # one training run, like GluonTS' train_model (refit would run a second)
               "validation": "holdout"},
    )


def run_phase(args) -> dict:
    """One phase in this process; returns its figures."""
    t0 = time.perf_counter()
    df = make_panel(args.series, args.weeks, args.horizon)
    windows = args.epochs * args.batches * args.batch_size
    out: dict = {"phase": args.phase}
    if args.phase.startswith("gluonts"):
        out.update(_plain_gluonts(args, df, multithreaded=args.phase == "gluonts-mt"))
    else:
        from forecasting.model.fit import fit_model

        workers = 0 if args.phase == "inproc" else int(args.phase.split("-")[1])
        settings = _settings(args, workers)
        fitted = fit_model(df, SPEC, settings, use_ray=workers > 0)
        m = fitted.metrics
        out["fit_s"] = m["train_seconds"]
        out["epochs"] = m["epochs"]
        n = df[S.UNIQUE_ID].nunique()
        out["forecast_ms_per_series"] = 1e3 * _best_of(
            lambda: fitted.predict(df, num_samples=args.samples)) / n
    out["e2e_s"] = time.perf_counter() - t0
    out["windows_per_s_fit"] = windows / out["fit_s"]
    out["windows_per_s_e2e"] = windows / out["e2e_s"]
    return out


def _plain_gluonts(args, df: pd.DataFrame, multithreaded: bool) -> dict:
    """The reference: GluonTS' own ``train_model`` and predictor on the same entries."""
    from forecasting.model.dataset import (
        Encoders,
        history_rows,
        prediction_entries,
        training_entries,
    )
    from forecasting.model.estimator import build_estimator, model_config
    from forecasting.model.trainer import quiet, torch_threads

    settings = _settings(args, 1)
    hist = history_rows(df)
    enc = Encoders.fit(hist, SPEC)
    train, val = training_entries(hist, SPEC, enc, "W", args.horizon)
    config = model_config(settings, SPEC, enc, longest_series=args.weeks)
    estimator = build_estimator(config)
    estimator.trainer_kwargs.update(
        accelerator="gpu" if args.gpu else "cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=os.path.abspath(args.lake),
    )
    threads = os.cpu_count() if multithreaded else 1
    with quiet(), torch_threads(threads):
        t = time.perf_counter()
        output = estimator.train_model(train, validation_data=val)
        fit_s = time.perf_counter() - t
        entries, *_ = prediction_entries(df, SPEC, enc, "W", args.horizon, config["context_length"])
        output.predictor.prediction_net.model.num_parallel_samples = args.samples
        predict_s = _best_of(
            lambda: list(output.predictor.predict(entries, num_samples=args.samples)))
    return {"fit_s": fit_s, "epochs": output.trainer.current_epoch,
            "forecast_ms_per_series": 1e3 * predict_s / len(entries)}


def _best_of(fn, repeats: int = 3) -> float:
    """Fastest of ``repeats`` timed calls after one untimed warm-up (lazy imports, caches)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _tree_pss(pid: int) -> int:
    import psutil

    total = 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:
            continue
    return total


def measure(args, phase: str) -> dict:
    """Run ``phase`` in a subprocess; add the peak PSS of its process tree."""
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", phase, *sys.argv[1:]]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    peak = [0]

    def _sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_pss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=_sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {proc.returncode})")
    figures = json.loads(stdout.strip().splitlines()[-1])
    figures["peak_pss_gib"] = peak[0] / 1024**3
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--weeks", type=int, default=156)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--gpu", action="store_true", help="train and predict on GPU")
    parser.add_argument("--lake", default="bench/out/train_lake")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args)), flush=True)
        return
    phases = ["gluonts", "gluonts-mt", "inproc", *[f"ray-{w}" for w in args.workers]]
    rows = [measure(args, p) for p in phases]
    base = rows[0]
    print(f"{args.series} series x {args.weeks} weeks, {args.epochs} epochs x {args.batches} "
          f"batches x {args.batch_size}, {args.samples} samples, gpu={args.gpu}")
    print(f"{'phase':<11}{'fit s':>8}{'e2e s':>8}{'win/s fit':>11}{'win/s e2e':>11}"
          f"{'vs gluonts':>11}{'fc ms/series':>13}{'fc vs gluonts':>14}{'peak GiB':>10}")
    for r in rows:
        ratio = r["windows_per_s_fit"] / base["windows_per_s_fit"]
        fc = base["forecast_ms_per_series"] / r["forecast_ms_per_series"]
        print(f"{r['phase']:<11}{r['fit_s']:>8.1f}{r['e2e_s']:>8.1f}{r['windows_per_s_fit']:>11.0f}"
              f"{r['windows_per_s_e2e']:>11.0f}{ratio:>11.2f}{r['forecast_ms_per_series']:>13.2f}"
              f"{fc:>14.2f}{r['peak_pss_gib']:>10.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
