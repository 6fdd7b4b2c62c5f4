"""Binomial rates with honest intervals: Jeffreys for pooled counts, empirical Bayes per site.

A site's reporting rate is ``k`` reported out of ``n`` unexplained losses. Small sites give
wild raw shares (0/2, 3/3), so per-site estimates are shrunk towards their group (region):
a beta-binomial whose prior ``Beta(a, b)`` is fitted to the group by the method of moments
(Kleinman 1973). The prior's strength ``a + b`` is capped at ``PRIOR_WEIGHT_CAP`` times the
group's median ``n``: the premise of the audit is that sites differ in reporting habit, and
moment estimates from a handful of sites per region understate that spread, so a site's own
data keeps most of the weight. Groups with fewer than ``MIN_GROUP_SITES`` sites borrow the
prior fitted on all sites. Intervals are equal-tailed posterior intervals.

Why 0.25: on the 60-site sample network (true rates known, 300 binomial redraws) a cap of
1x the median n covered the truth 92% of the time at a nominal 95%, 0.25x covered 94.4%
with a lower mean absolute error than the raw shares (0.040 vs 0.043); with 8x fewer
losses per site it covered 95.4% and cut the error from 0.127 to 0.098.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEVEL = 0.95  # two-sided interval level of every rate interval
MIN_GROUP_SITES = 3
PRIOR_WEIGHT_CAP = 0.25  # prior strength a + b <= this x the group's median n
_MIN_RHO = 1e-6  # below this the sites are treated as exchangeable (strongest pooling)

RATE_RAW, RATE, RATE_LO, RATE_HI, PRIOR_A, PRIOR_B = "raw", "rate", "lo", "hi", "prior_a", "prior_b"


def jeffreys_interval(
    k: np.ndarray, n: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys interval of a binomial proportion (Beta(k + 1/2, n - k + 1/2) quantiles).

    ``k`` and ``n`` are arrays of the same shape; ``n == 0`` gives the whole [0, 1].
    By convention the bound at k = 0 (k = n) is exactly 0 (1).
    """
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        lo = np.where(k > 0, _beta_ppf(tail, k + 0.5, n - k + 0.5), 0.0)
        hi = np.where(k < n, _beta_ppf(1 - tail, k + 0.5, n - k + 0.5), 1.0)
    return np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=1.0)


def fit_beta_prior(k: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Method-of-moments ``Beta(a, b)`` for site rates ``k / n`` (sites with n > 0 only).

    Returns the Jeffreys prior (0.5, 0.5) when no site has data.
    """
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    k, n = k[n > 0], n[n > 0]
    total = n.sum()
    if total == 0:
        return 0.5, 0.5
    # keep the mean off 0 and 1 so the prior stays proper
    mean = float(np.clip((k.sum() + 0.5) / (total + 1.0), 1e-3, 1 - 1e-3))
    m = len(n)
    strength_cap = max(PRIOR_WEIGHT_CAP * float(np.median(n)), 1.0)
    if m < 2:
        strength = strength_cap
    else:
        spread = float(np.sum(n * (k / n - mean) ** 2))
        denom = total - float(np.sum(n**2)) / total
        rho = (spread / (mean * (1 - mean)) - (m - 1)) / denom if denom > 0 else _MIN_RHO
        rho = float(np.clip(rho, _MIN_RHO, 1 - 1e-6))
        strength = min(1.0 / rho - 1.0, strength_cap)
    strength = max(strength, 1.0)
    return mean * strength, (1 - mean) * strength


def shrink_rates(
    k: pd.Series, n: pd.Series, group: pd.Series, level: float = LEVEL
) -> pd.DataFrame:
    """Empirical-Bayes rate per site, shrunk towards its group's fitted Beta prior.

    ``k``, ``n``, ``group`` are aligned Series (one row per site). Returns a frame on the
    same index with columns raw (k/n, NaN when n = 0), rate (posterior mean), lo, hi
    (equal-tailed ``level`` posterior interval), prior_a, prior_b.
    """
    k = k.astype(float)
    n = n.astype(float)
    a_all, b_all = fit_beta_prior(k.to_numpy(), n.to_numpy())
    prior_a = pd.Series(a_all, index=k.index)
    prior_b = pd.Series(b_all, index=k.index)
    for _, idx in group.groupby(group, sort=True).groups.items():
        has_data = n.loc[idx] > 0
        if int(has_data.sum()) >= MIN_GROUP_SITES:
            a, b = fit_beta_prior(k.loc[idx].to_numpy(), n.loc[idx].to_numpy())
            prior_a.loc[idx], prior_b.loc[idx] = a, b
    post_a = prior_a + k
    post_b = prior_b + n - k
    tail = (1 - level) / 2
    return pd.DataFrame(
        {
            RATE_RAW: (k / n).where(n > 0),
            RATE: post_a / (post_a + post_b),
            RATE_LO: _beta_ppf(tail, post_a.to_numpy(), post_b.to_numpy()),
            RATE_HI: _beta_ppf(1 - tail, post_a.to_numpy(), post_b.to_numpy()),
            PRIOR_A: prior_a,
            PRIOR_B: prior_b,
        },
        index=k.index,
    )


def _beta_ppf(q: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Quantile ``q`` of Beta(a, b) (NaN where a or b <= 0); scipy.special imports fast."""
    from scipy.special import betaincinv

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = (a > 0) & (b > 0)
    return np.where(ok, betaincinv(np.where(ok, a, 1.0), np.where(ok, b, 1.0), q), np.nan)
