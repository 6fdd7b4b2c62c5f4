"""How far below the anchors can carparts go? Per-series count distributions on the same cutoffs.

Scores simple per-series predictive distributions on exactly the rows a carparts backtest
scored (its ``backtest.parquet``: same 2,509 series, cutoffs and horizons), with the
backtest's own wQL (``forecasting.backtest.metrics.weighted_quantile_loss``):

* ``empirical L``: the empirical quantiles of the series' last L months;
* ``negbin L``: a negative binomial with the mean and variance of the last L months
  (Poisson where the variance is not above the mean);
* ``ewma-negbin a``: an exponentially weighted mean (smoothing ``a``) with the
  dispersion of the last 24 months.

Every step of the horizon gets the same distribution. These are the level a model reaches
by knowing each series' recent rate and spread and nothing else; the figures go to
bench/README.md (## backtest).

    .venv/bin/python bench/carparts_ceiling.py --backtest-dir bench/out/backtest
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CARPARTS = ROOT.parent / "shared" / "data" / "carparts" / "carparts.csv.gz"
LEVELS = (0.5, 0.9, 0.95)


def main() -> None:
    import pandas as pd

    from forecasting.backtest.metrics import weighted_quantile_loss
    from forecasting.core.schema import CUTOFF, DS, MODEL, UNIQUE_ID, Y, quantile_col
    from forecasting.panel.user import load_panel

    args = _args()
    panel, _ = load_panel(args.panel, id_col="series_id", freq="MS")  # as `riskcast backtest` reads it
    wide = panel.pivot(index=UNIQUE_ID, columns=DS, values=Y)
    bt = pd.read_parquet(Path(args.backtest_dir) / "backtest.parquet")
    rows = bt[bt[MODEL] == args.model].reset_index(drop=True)
    methods = {f"empirical {n}": ("empirical", n) for n in (6, 12, 24, 36)}
    methods |= {f"negbin {n}": ("negbin", n) for n in (6, 12, 24, 36)}
    methods |= {f"ewma-negbin {a:g}": ("ewma", a) for a in (0.1, 0.2)}
    table = [{"method": f"{args.model} (from the backtest)",
              **{f"wQL_{q:g}": weighted_quantile_loss(rows, q) for q in LEVELS}}]
    for label, (kind, param) in methods.items():
        scored = rows.copy()
        for cutoff, idx in rows.groupby(CUTOFF).groups.items():
            history = wide.loc[:, wide.columns <= cutoff].loc[rows.loc[idx, UNIQUE_ID]].to_numpy(float)
            q = _quantiles(history, kind, param)
            for level in LEVELS:
                scored.loc[idx, quantile_col(level)] = q[level]
        table.append({"method": label, **{f"wQL_{q:g}": weighted_quantile_loss(scored, q) for q in LEVELS}})
    out = pd.DataFrame(table).set_index("method")
    out.insert(0, "mean_wQL", out.mean(axis=1))
    print(f"{len(rows)} rows ({rows[UNIQUE_ID].nunique()} series, {rows[CUTOFF].nunique()} cutoffs); "
          f"sum of actuals {rows[Y].sum():g}")
    print(out.round(3).to_string())


def _quantiles(history, kind: str, param: float) -> dict[float, object]:
    """Quantiles (one per series) of a count distribution fitted to each row of ``history``."""
    import numpy as np
    from scipy import stats

    if kind == "empirical":
        recent = history[:, -int(param):]
        return {q: np.nanquantile(recent, q, axis=1, method="inverted_cdf") for q in LEVELS}
    recent = history[:, -24:] if kind == "ewma" else history[:, -int(param):]
    mean = _ewma(history, param) if kind == "ewma" else np.nanmean(recent, axis=1)
    mean = np.maximum(np.nan_to_num(mean), 1e-9)
    ratio = np.nanvar(recent, axis=1, ddof=1) / np.maximum(np.nanmean(recent, axis=1), 1e-9)
    ratio = np.nan_to_num(ratio, nan=1.0)
    poisson = ratio <= 1.0
    p = 1.0 / np.where(poisson, 2.0, ratio)  # var = mean / p
    n = mean * p / (1.0 - p)
    return {q: np.where(poisson, stats.poisson.ppf(q, mean), stats.nbinom.ppf(q, n, p)) for q in LEVELS}


def _ewma(history, alpha: float):
    """Exponentially weighted mean of each row, skipping NaN periods."""
    import numpy as np

    level = np.nan_to_num(np.nanmean(history[:, :3], axis=1))
    for t in range(history.shape[1]):
        x = history[:, t]
        level = np.where(np.isnan(x), level, alpha * np.nan_to_num(x) + (1 - alpha) * level)
    return level


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backtest-dir", required=True, help="a carparts backtest's output folder")
    p.add_argument("--panel", default=str(CARPARTS))
    p.add_argument("--model", default="riskcast", help="whose scored rows to reuse")
    return p.parse_args()


if __name__ == "__main__":
    main()
