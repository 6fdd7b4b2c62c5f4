-- v6: horizon totals finance books from. One row per run, total (region or network) and
-- span: the next 4 periods, the whole horizon, each calendar month and quarter the horizon
-- covers (`is_partial` when it covers it only in part; period_start/period_end say which
-- days). Figures are quantiles of whole scenarios summed over the span: never add the
-- weekly rows of reserves_totals to get them (quantiles do not add).
-- `reserves_horizon_latest`: the current run of the latest as_of_date, as reserves_latest.
CREATE TABLE reserves_horizon (
    as_of_date             DATE NOT NULL,
    run_id                 VARCHAR(128) NOT NULL,
    level                  VARCHAR(16) NOT NULL,
    id                     VARCHAR(128) NOT NULL,
    period_kind            VARCHAR(16) NOT NULL,
    period_label           VARCHAR(64) NOT NULL,
    period_start           DATE NOT NULL,
    period_end             DATE NOT NULL,
    n_periods              INTEGER NOT NULL,
    is_partial             BOOLEAN NOT NULL,
    incidents_p50          DOUBLE PRECISION NOT NULL,
    incidents_p90          DOUBLE PRECISION NOT NULL,
    incidents_p95          DOUBLE PRECISION NOT NULL,
    incidents_mean         DOUBLE PRECISION NOT NULL,
    loss_eur_p50           NUMERIC(14, 2) NOT NULL,
    loss_eur_p90           NUMERIC(14, 2) NOT NULL,
    loss_eur_p95           NUMERIC(14, 2) NOT NULL,
    loss_eur_mean          NUMERIC(14, 2) NOT NULL,
    backtest_coverage_p95  DOUBLE PRECISION,
    calibration_method     VARCHAR(200) NOT NULL,
    model_version          VARCHAR(128) NOT NULL,
    snapshot_id            VARCHAR(128) NOT NULL,
    code_version           VARCHAR(128) NOT NULL,
    published_at           TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT reserves_horizon_pk
        PRIMARY KEY (as_of_date, run_id, level, id, period_kind, period_start),
    CONSTRAINT reserves_horizon_publication_fk FOREIGN KEY (as_of_date, run_id)
        REFERENCES publications (as_of_date, run_id),
    CONSTRAINT reserves_horizon_level CHECK (level IN ('region', 'network')),
    CONSTRAINT reserves_horizon_kind CHECK (period_kind IN ('next_4', 'horizon', 'month', 'quarter')),
    CONSTRAINT reserves_horizon_incidents_ordered
        CHECK (incidents_p50 >= 0 AND incidents_p50 <= incidents_p90 AND incidents_p90 <= incidents_p95),
    CONSTRAINT reserves_horizon_loss_ordered
        CHECK (loss_eur_p50 >= 0 AND loss_eur_p50 <= loss_eur_p90 AND loss_eur_p90 <= loss_eur_p95),
    CONSTRAINT reserves_horizon_period CHECK (n_periods >= 1 AND period_end >= period_start)
);

CREATE VIEW reserves_horizon_latest AS
SELECT h.*
FROM reserves_horizon h
JOIN publications p ON p.as_of_date = h.as_of_date AND p.run_id = h.run_id
WHERE p.is_current = TRUE
  AND h.as_of_date = (SELECT MAX(as_of_date) FROM publications WHERE is_current = TRUE);
