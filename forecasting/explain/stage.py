"""The explain stage: score recent warehouse-weeks, attribute the outliers, write and alert.

``explain_lake(settings, as_of)`` reads the panel of ``as_of`` (its history holds the
actuals), its severity table and bronze, and:

1. measures the graph's nodes per warehouse-week (``explain.nodes``);
2. explains the last ``window`` periods whose actuals have settled (ending on or before
   ``as_of - settle_days``); the periods before them are each site's reference weeks,
   on which the mechanisms are fitted (``explain.scm``);
3. scores every explained week (information-theoretic outlier score) and marks weeks whose
   realised incidents or losses exceeded the P95 published for them before they began
   (``reserves/as_of=P`` with P < the period start, the latest such P);
4. flags a week when its score reaches ``min_score``, or ``min_score_exceeded`` when it
   also exceeded the published P95, and attributes each flagged week;
5. writes ``explain/as_of=D/attributions.parquet`` (``ATTRIBUTION_COLUMNS``),
   ``scores.parquet`` (``SCORE_COLUMNS``, one row per explained week, with the cause text)
   and ``explain.json``, then sends the root-cause alerts. Only data: the reserves page
   shows the causes when the ``report`` stage renders it (``forecasting.reserves.report``).

A site with too few reference weeks, no actuals in the window or a node it cannot measure
gets a message in ``skipped`` and no attribution; the stage does not fail for it.
Deterministic: fixed seeds, sorted frames, so a rerun writes the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from forecasting.alerts.send import send_alert
from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import ConfigError
from forecasting.core.lake import Lake, parse_date
from forecasting.core.layout import RESERVES
from forecasting.explain import nodes as nd
from forecasting.explain.graph import NODES
from forecasting.explain.scm import AttributionOptions, attribute
from forecasting.explain.scores import outlier_scores
from forecasting.explain.text import cause_text, root_cause_alerts
from forecasting.panel.build import read_panel

log = logging.getLogger(__name__)
_KEYS = [schema.WAREHOUSE_ID, schema.PERIOD_START]
ATTRIBUTION_COLUMNS = [*_KEYS, schema.OUTLIER_SCORE, schema.EXPLAIN_NODE, schema.CONTRIBUTION,
                       schema.CONTRIBUTION_LO, schema.CONTRIBUTION_HI, schema.TARGET_NODE]  # fmt: skip
SCORE_COLUMNS = [*_KEYS, schema.OUTLIER_SCORE, schema.TARGET_NODE, schema.EXCEEDED_P95,
                 schema.FLAGGED, schema.INCIDENTS_P95, schema.LOSS_EUR_P95, schema.INCIDENTS_ACTUAL,
                 nd.LOSS, schema.EXPLAIN_NODE, schema.CAUSE_TEXT]  # fmt: skip


@dataclass(frozen=True)
class ExplainOptions:
    window: int = 8  # periods explained
    settle_days: int = 7  # count lines arrive up to 10 days late: skip the newest periods
    min_reference: int = 12  # reference periods a site needs
    min_score: float = 5.0  # -log tail probability under the site's usual week: 1 in 150
    min_score_exceeded: float = 3.0  # for weeks above their published P95
    alert: bool = True
    attribution: AttributionOptions = field(default_factory=AttributionOptions)


@dataclass
class ExplainSummary:
    as_of: str
    periods: list[str]
    counts: dict[str, int]
    skipped: dict[str, str]
    causes: list[dict[str, Any]]
    uris: dict[str, str]
    alerts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain_lake(settings: Settings, as_of: date, options: ExplainOptions | None = None) -> ExplainSummary:
    """Score, flag and attribute the recent warehouse-weeks of ``as_of``; see the module doc."""
    opts = options or ExplainOptions()
    lake = Lake.from_settings(settings)
    panel, spec = read_panel(settings, as_of)
    severity = lake.read_parquet(lake.panel_severity(as_of))
    measures = nd.weekly_measures(panel, severity, nd.read_bronze_counts(lake, as_of, spec.freq))
    periods = _explained_periods(measures, as_of, spec.freq, opts)
    explained = measures[schema.PERIOD_START].isin(periods)
    reference = measures[schema.PERIOD_START] < (min(periods) if periods else pd.Timestamp.max)
    nodes = nd.node_frame(measures, reference)
    sites = sorted(panel[schema.UNIQUE_ID].astype(str).unique())
    skipped = _skipped_sites(sites, measures, nodes, explained, reference, opts)
    ok = ~measures[schema.WAREHOUSE_ID].isin(skipped) & nodes[list(NODES)].notna().all(axis=1)
    train, week_nodes = nodes.loc[reference & ok], nodes.loc[explained & ok]
    if len(train) < opts.min_reference * 2 or week_nodes.empty:
        note = f"{len(train)} reference weeks and {len(week_nodes)} weeks to explain: nothing scored"
        skipped.setdefault("*", note)
        log.warning("explain %s: %s", as_of, note)
        week_nodes = week_nodes.iloc[:0]
    per_incident = pd.DataFrame({
        schema.WAREHOUSE_ID: severity[schema.WAREHOUSE_ID].astype(str).to_numpy(),
        schema.PERIOD_START: pd.to_datetime(severity[schema.DS]).to_numpy(),
        nd.LOSS: severity[schema.SEVERITY_LOSS_EUR].astype(float).to_numpy(),
    })  # fmt: skip
    scores = outlier_scores(measures, reference & ok, measures.index.isin(week_nodes.index), per_incident)
    weeks = _score_weeks(lake, measures, week_nodes, scores, as_of, opts)
    attributions = _attribute(train, week_nodes, weeks, opts)
    weeks = _with_causes(weeks, attributions, week_nodes)
    out = {
        "attributions": lake.write_parquet(attributions[ATTRIBUTION_COLUMNS], lake.explain_attributions(as_of)),
        "scores": lake.write_parquet(weeks[SCORE_COLUMNS], lake.explain_file(as_of, "scores")),
    }  # fmt: skip
    flagged = weeks.loc[weeks[schema.FLAGGED]]
    summary = ExplainSummary(
        as_of=str(as_of),
        periods=[str(p.date()) for p in periods],
        counts={"scored": len(weeks), "flagged": len(flagged),
                "exceeded_p95": int(weeks[schema.EXCEEDED_P95].sum()),
                "attribution_rows": len(attributions), "skipped_sites": len(skipped)},  # fmt: skip
        skipped=skipped,
        causes=[{schema.WAREHOUSE_ID: r[schema.WAREHOUSE_ID],
                 schema.PERIOD_START: str(r[schema.PERIOD_START].date()),
                 schema.CAUSE_TEXT: r[schema.CAUSE_TEXT]} for r in flagged.to_dict("records")],  # fmt: skip
        uris=out,
    )
    summary.uris["summary"] = lake.write_json(lake.explain_file(as_of, "summary"), summary.to_dict())
    if opts.alert:
        links = {"reserves page": lake.reserves_report(as_of), "attributions (data)": out["attributions"]}
        for alert in root_cause_alerts(as_of, flagged, links):
            send_alert(settings, alert)
            summary.alerts.append(alert.alert_id)
    log.info("explain %s: %d weeks scored, %d flagged", as_of, len(weeks), len(flagged))
    return summary


def _explained_periods(measures: pd.DataFrame, as_of: date, freq: str, opts: ExplainOptions) -> list:
    settled = pd.Timestamp(as_of - timedelta(days=opts.settle_days))
    starts = sorted(measures[schema.PERIOD_START].unique())
    ends = [pd.Timestamp(s) + pd.tseries.frequencies.to_offset(freq) - pd.Timedelta(days=1) for s in starts]
    done = [pd.Timestamp(s) for s, e in zip(starts, ends, strict=True) if e <= settled]
    return done[-opts.window :]


def _skipped_sites(sites, measures, nodes, explained, reference, opts: ExplainOptions) -> dict[str, str]:
    """site -> why it gets no attribution (too little history, no actuals, a node missing)."""
    out: dict[str, str] = {}
    site = measures[schema.WAREHOUSE_ID]
    n_ref = reference.groupby(site).sum()
    n_now = explained.groupby(site).sum()
    # a node NaN in every week cannot be measured; a week whose data was missing (a drop that
    # never arrived: NaN incidents) only drops out of the fit (``ok`` in explain_lake)
    missing = nodes[list(NODES)].isna().groupby(site).all()
    for s in sites:
        if n_now.get(s, 0) == 0:
            out[s] = "no actuals in the explained periods yet: nothing to explain"
        elif n_ref.get(s, 0) < opts.min_reference:
            out[s] = (f"{int(n_ref.get(s, 0))} reference periods, fewer than {opts.min_reference}: "
                      "too little history to know its usual weeks")  # fmt: skip
        elif s in missing.index and missing.loc[s].any():
            cols = [c for c in NODES if missing.loc[s, c]]
            out[s] = f"node(s) {', '.join(cols)} cannot be measured (no incidents or losses in its reference periods)"
    for s, why in out.items():
        log.info("explain: no attribution for %s: %s", s, why)
    return out


def _score_weeks(lake: Lake, measures, week_nodes, scores, as_of: date, opts: ExplainOptions) -> pd.DataFrame:
    weeks = measures.loc[week_nodes.index, _KEYS].copy()
    weeks[schema.INCIDENTS_ACTUAL] = measures.loc[week_nodes.index, schema.NODE_INCIDENTS]
    weeks[nd.LOSS] = measures.loc[week_nodes.index, nd.LOSS]
    weeks = weeks.join(scores[[schema.OUTLIER_SCORE, schema.TARGET_NODE]])
    weeks = weeks.merge(_published_p95(lake, as_of), on=_KEYS, how="left")
    weeks[schema.EXCEEDED_P95] = (
        (weeks[schema.INCIDENTS_ACTUAL] > weeks[schema.INCIDENTS_P95])
        | (weeks[nd.LOSS] > weeks[schema.LOSS_EUR_P95])
    ).fillna(False).astype(bool)  # fmt: skip
    weeks[schema.FLAGGED] = (weeks[schema.OUTLIER_SCORE] >= opts.min_score) | (
        weeks[schema.EXCEEDED_P95] & (weeks[schema.OUTLIER_SCORE] >= opts.min_score_exceeded)
    )
    weeks.index = week_nodes.index
    return weeks.sort_values(_KEYS, kind="stable")


def _published_p95(lake: Lake, as_of: date) -> pd.DataFrame:
    """incidents_p95, loss_eur_p95 per warehouse-period, from the latest reserves before it began."""
    cols = [schema.AS_OF_DATE, *_KEYS, schema.INCIDENTS_P95, schema.LOSS_EUR_P95]
    frames = []
    for name in sorted(lake.ls(lake.stage_dates(RESERVES))):
        try:
            day = parse_date(name.rpartition("/")[2].partition("=")[2], "reserves partition")
        except ConfigError:
            continue
        if day < as_of and lake.exists(lake.reserves_file(day)):
            frames.append(lake.read_parquet(lake.reserves_file(day))[cols])
    if not frames:
        return pd.DataFrame({
            schema.WAREHOUSE_ID: pd.Series(dtype=str), schema.PERIOD_START: pd.Series(dtype="datetime64[ns]"),
            schema.INCIDENTS_P95: pd.Series(dtype=float), schema.LOSS_EUR_P95: pd.Series(dtype=float),
        })  # fmt: skip
    df = pd.concat(frames, ignore_index=True)
    df[schema.PERIOD_START] = pd.to_datetime(df[schema.PERIOD_START])
    df = df.loc[pd.to_datetime(df[schema.AS_OF_DATE]) < df[schema.PERIOD_START]]
    df = df.sort_values([*_KEYS, schema.AS_OF_DATE], kind="stable").drop_duplicates(_KEYS, keep="last")
    return df[[*_KEYS, schema.INCIDENTS_P95, schema.LOSS_EUR_P95]]


def _attribute(train, week_nodes, weeks, opts: ExplainOptions) -> pd.DataFrame:
    flagged = weeks.loc[weeks[schema.FLAGGED]]
    parts = []
    for target in sorted(flagged[schema.TARGET_NODE].unique()):
        idx = flagged.index[flagged[schema.TARGET_NODE] == target]
        a = attribute(train, target, week_nodes.loc[idx], opts.attribution)
        parts.append(a.join(weeks[[*_KEYS, schema.OUTLIER_SCORE, schema.TARGET_NODE]]))
    if not parts:
        return pd.DataFrame(columns=ATTRIBUTION_COLUMNS)
    out = pd.concat(parts).sort_values([*_KEYS, schema.CONTRIBUTION, schema.EXPLAIN_NODE],
                                       ascending=[True, True, False, True], kind="stable")  # fmt: skip
    return out.reset_index(drop=True)[ATTRIBUTION_COLUMNS]


def _with_causes(weeks: pd.DataFrame, attributions: pd.DataFrame, week_nodes: pd.DataFrame) -> pd.DataFrame:
    weeks = weeks.copy()
    weeks[schema.EXPLAIN_NODE], weeks[schema.CAUSE_TEXT] = None, None
    for key, g in attributions.groupby(_KEYS, sort=False):
        row = weeks.index[(weeks[schema.WAREHOUSE_ID] == key[0]) & (weeks[schema.PERIOD_START] == key[1])]
        values = week_nodes.loc[row[0], list(NODES)].astype(float).to_dict()
        weeks.loc[row, schema.EXPLAIN_NODE] = g[schema.EXPLAIN_NODE].iloc[0]
        weeks.loc[row, schema.CAUSE_TEXT] = cause_text(key[0], g, values)
    return weeks.reset_index(drop=True).astype({schema.EXCEEDED_P95: bool, schema.FLAGGED: bool})

