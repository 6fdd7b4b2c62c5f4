"""Outlier scores of warehouse-weeks: -log of a tail probability under the site's usual week.

The information-theoretic score of a watched node is ``-log P(X at least as extreme)``;
here the tail probability comes from a per-site model of the raw counts fitted on the
reference weeks, not from ranking pooled node values (whose resolution stopped at
log(n + 1) and which treated a peak week at a small and a large site alike):

| watched node | usual week | tail |
|---|---|---|
| ``incidents`` | NB(mean m_site x exp(b x calendar), size k) | P(Y >= y) |
| ``reporting`` | reports filed: NB(mean r_site x exp(b_r x calendar), size k_r) | P(R <= r) |
| ``activity`` | TRANSFER + DAMAGE count lines: NB like incidents | P(A >= a) |
| ``loss_eur`` | compound: N ~ the incidents' NB, each loss a draw of the pooled reference losses per incident relative to their site's median, x the site's median | P(L >= l), Monte Carlo |

``b`` (one calendar effect for launches, peaks and holidays, as the ``calendar`` node adds
them), ``m_site`` and the dispersion ``k`` are fitted by Poisson likelihood with site
effects and moments. A calibrated score means one threshold serves every node and site:
a score of 5 is a 1-in-150 week wherever it happens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.core import schema
from forecasting.explain.graph import WATCHED

LOSS_DRAWS = 10_000  # Monte Carlo weeks per scored week: resolution log(10_001) = 9.2
_MAX_K = 1e4  # dispersion cap: a near-Poisson count
_SHRINK = 20.0  # pseudo-incidents of the network's typical loss in a site's
_RUN_GATE = 1.0  # a week joins a two-week run when its own tail probability is <= 37%
_PEER_PRIOR = 5.0  # pseudo-count shrinking a week's peer factor to 1


def outlier_scores(
    measures: pd.DataFrame,
    reference: pd.Series,
    explained: pd.Series,
    per_incident: pd.DataFrame,
    seed: int = 0,
) -> pd.DataFrame:
    """Per ``explained`` row of ``measures``: ``outlier_score`` (max) and ``target_node``.

    ``measures``: ``nodes.weekly_measures`` (warehouse_id, period_start, incidents,
    calendar, loss_eur_actual, reports_filed, ...); ``reference`` / ``explained``: boolean
    masks over its rows; ``per_incident``: one row per incident (warehouse_id,
    period_start, loss_eur) of the severity table. Also returns one ``score_<node>``
    column per watched node. Index: the explained rows of ``measures``.
    """
    ref, ex = np.asarray(reference, dtype=bool), np.asarray(explained, dtype=bool)
    site = measures[schema.WAREHOUSE_ID].astype(str).to_numpy()
    cal = measures[schema.NODE_CALENDAR].to_numpy(float)
    y = measures[schema.NODE_INCIDENTS].to_numpy(float)
    week = measures[schema.PERIOD_START].to_numpy()
    mu, k = _fit_counts(y, site, week, cal, ref)
    reports = measures[schema.REPORTS_FILED].to_numpy(float)
    mu_r, k_r = _fit_counts(reports, site, week, cal, ref)
    lines = measures[schema.ACTIVITY_LINES].to_numpy(float)
    mu_a, k_a = _fit_counts(lines, site, week, cal, ref)
    loss = measures[schema.LOSS_EUR_ACTUAL].to_numpy(float)
    relative = _relative_losses(per_incident, measures.loc[ref, [schema.WAREHOUSE_ID, schema.PERIOD_START]])
    rows, nbs, usable = np.flatnonzero(ex), _neighbours(site, week), ref | ex

    def counts(x: np.ndarray, mean: np.ndarray, size: float, upper: bool):
        return lambda i, j: -_nb_log_tail(*_summed(x, mean, size, i, j, upper), upper=upper)

    def losses(i: np.ndarray, j: np.ndarray | None) -> np.ndarray:
        total, m, size = _summed(loss, mu, k, i, j)
        return _loss_scores(total, m, size, site[i], relative, seed)

    scores = {
        schema.NODE_INCIDENTS: _with_runs(counts(y, mu, k, True), rows, nbs, usable, mu),
        schema.NODE_REPORTING: _with_runs(counts(reports, mu_r, k_r, False), rows, nbs, usable, mu_r),
        schema.NODE_LOSS_EUR: _with_runs(losses, rows, nbs, usable, mu),
        schema.NODE_ACTIVITY: _with_runs(counts(lines, mu_a, k_a, True), rows, nbs, usable, mu_a),
    }
    table = pd.DataFrame({n: scores[n] for n in WATCHED}, index=measures.index[ex]).clip(lower=0.0)
    out = pd.DataFrame(index=table.index)
    out[schema.OUTLIER_SCORE] = table.max(axis=1)
    out[schema.TARGET_NODE] = table.idxmax(axis=1)
    return out.join(table.add_prefix("score_"))


def _fit_counts(
    y: np.ndarray, site: np.ndarray, week: np.ndarray, cal: np.ndarray, ref: np.ndarray
) -> tuple[np.ndarray, float]:
    """Per-row NB mean m_site x exp(b x calendar) x w_week,site and the pooled size k.

    ``w`` is the rest of the network's count that week over its usual (each other site's
    count winsorised at 3 Poisson sd, so one site's anomaly barely moves its peers): peaks,
    holidays and network-wide swings are absorbed even when the reference weeks hold too
    few of them to fit. m_site and b by Poisson likelihood on the ``ref`` rows (Newton in b,
    m_site profiled out), k by moments: Var = mu + mu^2 / k. A site without reference rows
    gets mean NaN.
    """
    codes, n_sites = pd.factorize(site)[0], len(pd.unique(site))
    r = ref & np.isfinite(y)
    b, w = 0.0, np.ones(len(y))
    for _ in range(3):
        for _ in range(30):
            e = w * np.exp(b * cal)
            level = np.bincount(codes[r], y[r], n_sites) / np.maximum(np.bincount(codes[r], e[r], n_sites), 1e-12)
            mu = level[codes] * e
            grad, info = np.sum(((y - mu) * cal)[r]), np.sum((mu * cal**2)[r])
            step = float(np.clip(grad / info, -1.0, 1.0)) if info > 0 else 0.0
            b = float(np.clip(b + step, -3.0, 3.0))
            if abs(step) < 1e-8:
                break
        w = _peer_factor(y, level[codes] * np.exp(b * cal), week)
    seen = np.bincount(codes[r], minlength=n_sites) > 0
    mu = np.where(seen[codes], level[codes] * np.exp(b * cal) * w, np.nan)
    excess = np.sum(((y - mu) ** 2 - mu)[r])
    inv_k = excess / max(np.sum((mu**2)[r]), 1e-12)
    return mu, float(min(1.0 / inv_k, _MAX_K)) if inv_k > 0 else _MAX_K


def _peer_factor(y: np.ndarray, mu: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Per row: the other sites' (winsorised) count that week / their usual, shrunk to 1."""
    ok = np.isfinite(mu) & np.isfinite(y)
    m = np.where(ok, mu, 0.0)
    band = 3.0 * np.sqrt(m + 1.0)
    yc = np.where(ok, np.clip(y, m - band, m + band), 0.0)
    codes, n = pd.factorize(week)[0], len(pd.unique(week))
    total, usual = np.bincount(codes, yc, n)[codes] - yc, np.bincount(codes, m, n)[codes] - m
    return (total + _PEER_PRIOR) / (usual + _PEER_PRIOR)


def _neighbours(site: np.ndarray, week: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index of the same site's previous and next period (-1: none)."""
    order = np.lexsort((week, site))
    same = site[order][1:] == site[order][:-1]
    prev, nxt = np.full(len(site), -1), np.full(len(site), -1)
    prev[order[1:][same]] = order[:-1][same]
    nxt[order[:-1][same]] = order[1:][same]
    return prev, nxt


def _summed(
    x: np.ndarray, mu: np.ndarray, k: float, i: np.ndarray, j: np.ndarray | None, upper: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, NB mean and NB size of rows ``i`` alone or summed with neighbour rows ``j``.

    The neighbour counts at most as far from its usual as week ``i`` is from its own
    (x_j <= x_i mu_j / mu_i, or >= for a fall): a run is as strong as its weaker week, so a
    quiet week next to a huge outlier is not carried by it. The sum's NB size keeps the
    variance of the two weeks.
    """
    if j is None:
        return x[i], mu[i], np.full(len(i), k)
    m = mu[i] + mu[j]
    alike = x[i] * mu[j] / np.maximum(mu[i], 1e-9)
    nb = np.minimum(x[j], alike) if upper else np.maximum(x[j], alike)
    return x[i] + nb, m, k * m**2 / np.maximum(mu[i] ** 2 + mu[j] ** 2, 1e-12)


def _with_runs(score_of, rows: np.ndarray, nbs, usable: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Per row in ``rows``: the larger of its own week's score and a two-week run's.

    Theft rings, collapses and value shifts last weeks: two weeks that are each somewhat
    high are together rarer than either. A run counts only when the week itself leans the
    same way (its own score >= ``_RUN_GATE``), so an outlier does not flag its quiet
    neighbour; ``log 2`` pays for looking at two runs. ``score_of(i, j)``: scores of rows
    ``i``, summed with rows ``j`` when ``j`` is given.
    """
    single = score_of(rows, None)
    best = single.copy()
    for nb in nbs:
        j = nb[rows]
        ok = (j >= 0) & (single >= _RUN_GATE)
        ok[ok] = usable[j[ok]] & np.isfinite(mu[j[ok]])
        if ok.any():
            best[ok] = np.maximum(best[ok], score_of(rows[ok], j[ok]) - np.log(2.0))
    return best


def _nb_log_tail(x: np.ndarray, mu: np.ndarray, k: float, upper: bool) -> np.ndarray:
    """log P(X >= x) (``upper``) or log P(X <= x) under NB(mean ``mu``, size ``k``)."""
    from scipy.stats import nbinom

    mu = np.maximum(mu, 1e-9)
    p = k / (k + mu)
    if upper:
        return np.where(x <= 0, 0.0, nbinom.logsf(x - 1, k, p))
    return nbinom.logcdf(x, k, p)


def _relative_losses(per_incident: pd.DataFrame, reference_keys: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    """Reference losses per incident relative to their site's typical loss (sorted), and it.

    A site's typical loss is the geometric mean of its reference losses, shrunk toward the
    network's with ``_SHRINK`` pseudo-incidents: sites share one value mix up to their
    price level, and a site median of 30 losses from a two-humped mix (goods and
    high-value goods) jumps between the humps.
    """
    ref = per_incident.merge(reference_keys, on=[schema.WAREHOUSE_ID, schema.PERIOD_START])
    ref = ref.loc[ref[schema.LOSS_EUR_ACTUAL] > 0]
    logs = np.log(ref[schema.LOSS_EUR_ACTUAL].astype(float))
    g = logs.groupby(ref[schema.WAREHOUSE_ID])
    typical = np.exp((g.sum() + _SHRINK * logs.mean()) / (g.count() + _SHRINK))
    ratios = ref[schema.LOSS_EUR_ACTUAL] / ref[schema.WAREHOUSE_ID].map(typical)
    return np.sort(ratios.to_numpy(float)), typical


def _loss_scores(
    loss: np.ndarray, mu: np.ndarray, k: np.ndarray, site: np.ndarray, relative: tuple[np.ndarray, pd.Series], seed: int
) -> np.ndarray:
    """-log P(L >= loss) of a compound week: N ~ NB(mu, k) losses drawn from the pooled ratios."""
    pool, typical_loss = relative
    out = np.zeros(len(loss))
    if len(pool) == 0:
        return out
    rng = np.random.default_rng(seed)
    typical = pd.Series(site).map(typical_loss).to_numpy(float)
    for i in range(len(loss)):
        if not (loss[i] > 0 and np.isfinite(mu[i]) and typical[i] > 0):
            continue
        n = rng.negative_binomial(k[i], k[i] / (k[i] + max(mu[i], 1e-9)), LOSS_DRAWS)
        draws = pool[rng.integers(0, len(pool), int(n.sum()))]
        totals = np.bincount(np.repeat(np.arange(LOSS_DRAWS), n), draws, LOSS_DRAWS)
        exceed = np.count_nonzero(totals * typical[i] >= loss[i])
        out[i] = -np.log((1.0 + exceed) / (LOSS_DRAWS + 1.0))
    return out
