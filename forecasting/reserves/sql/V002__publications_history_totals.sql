-- v2: every publish is kept. `publications` has one row per (as_of_date, run_id); exactly
-- one of them per as_of_date is current (partial unique index). `reserves` rows are keyed
-- by their run, carry provenance and are checked (non-negative, P50 <= P90 <= P95).
-- `reserves_totals` holds region and network totals per run. v1 rows become run
-- 'legacy-v1', current; what v1 did not record is 'unknown' (or NULL for period_end).
CREATE TABLE publications (
    as_of_date      DATE NOT NULL,
    run_id          VARCHAR(128) NOT NULL,
    model_version   VARCHAR(128) NOT NULL,
    snapshot_id     VARCHAR(128) NOT NULL,
    code_version    VARCHAR(128) NOT NULL,
    content_digest  VARCHAR(64) NOT NULL,
    n_rows          INTEGER NOT NULL,
    published_at    TIMESTAMP WITH TIME ZONE NOT NULL,
    is_current      BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT publications_pk PRIMARY KEY (as_of_date, run_id),
    CONSTRAINT publications_rows_nonneg CHECK (n_rows >= 0)
);
CREATE UNIQUE INDEX publications_one_current ON publications (as_of_date) WHERE is_current = TRUE;

CREATE TABLE reserves_v2 (
    as_of_date             DATE NOT NULL,
    run_id                 VARCHAR(128) NOT NULL,
    warehouse_id           VARCHAR(128) NOT NULL,
    region                 VARCHAR(128) NOT NULL,
    country                VARCHAR(128) NOT NULL,
    period_start           DATE NOT NULL,
    period_end             DATE,
    step                   INTEGER NOT NULL,
    incidents_p50          DOUBLE PRECISION NOT NULL,
    incidents_p90          DOUBLE PRECISION NOT NULL,
    incidents_p95          DOUBLE PRECISION NOT NULL,
    loss_eur_p50           NUMERIC(14, 2) NOT NULL,
    loss_eur_p90           NUMERIC(14, 2) NOT NULL,
    loss_eur_p95           NUMERIC(14, 2) NOT NULL,
    loss_eur_mean          NUMERIC(14, 2),
    backtest_coverage_p95  DOUBLE PRECISION,
    calibration_method     VARCHAR(200) NOT NULL,
    escalation_level       INTEGER NOT NULL DEFAULT 0,
    model_version          VARCHAR(128) NOT NULL,
    snapshot_id            VARCHAR(128) NOT NULL,
    code_version           VARCHAR(128) NOT NULL,
    published_at           TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT reserves_pk PRIMARY KEY (as_of_date, run_id, warehouse_id, period_start),
    CONSTRAINT reserves_publication_fk FOREIGN KEY (as_of_date, run_id)
        REFERENCES publications (as_of_date, run_id),
    CONSTRAINT reserves_incidents_ordered
        CHECK (incidents_p50 >= 0 AND incidents_p50 <= incidents_p90 AND incidents_p90 <= incidents_p95),
    CONSTRAINT reserves_loss_ordered
        CHECK (loss_eur_p50 >= 0 AND loss_eur_p50 <= loss_eur_p90 AND loss_eur_p90 <= loss_eur_p95),
    CONSTRAINT reserves_period CHECK (step >= 1 AND (period_end IS NULL OR period_end >= period_start)),
    CONSTRAINT reserves_escalation_level CHECK (escalation_level BETWEEN 0 AND 2)
);

INSERT INTO publications
    (as_of_date, run_id, model_version, snapshot_id, code_version, content_digest, n_rows,
     published_at, is_current)
SELECT as_of_date, 'legacy-v1', MIN(model_version), 'unknown', 'unknown', 'legacy-v1', COUNT(*),
       MIN(published_at), TRUE
FROM reserves GROUP BY as_of_date;

INSERT INTO reserves_v2
    (as_of_date, run_id, warehouse_id, region, country, period_start, period_end, step,
     incidents_p50, incidents_p90, incidents_p95, loss_eur_p50, loss_eur_p90, loss_eur_p95,
     loss_eur_mean, backtest_coverage_p95, calibration_method, escalation_level,
     model_version, snapshot_id, code_version, published_at)
SELECT as_of_date, 'legacy-v1', warehouse_id, 'unknown', 'unknown', period_start, NULL,
       ROW_NUMBER() OVER (PARTITION BY as_of_date, warehouse_id ORDER BY period_start),
       incidents_p50, incidents_p90, incidents_p95, loss_eur_p50, loss_eur_p90, loss_eur_p95,
       NULL, NULL, 'unknown', 0, model_version, 'unknown', 'unknown', published_at
FROM reserves;

DROP TABLE reserves;
ALTER TABLE reserves_v2 RENAME TO reserves;

CREATE TABLE reserves_totals (
    as_of_date             DATE NOT NULL,
    run_id                 VARCHAR(128) NOT NULL,
    level                  VARCHAR(16) NOT NULL,
    id                     VARCHAR(128) NOT NULL,
    period_start           DATE NOT NULL,
    period_end             DATE NOT NULL,
    step                   INTEGER NOT NULL,
    incidents_p50          DOUBLE PRECISION NOT NULL,
    incidents_p90          DOUBLE PRECISION NOT NULL,
    incidents_p95          DOUBLE PRECISION NOT NULL,
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
    CONSTRAINT reserves_totals_pk PRIMARY KEY (as_of_date, run_id, level, id, period_start),
    CONSTRAINT reserves_totals_publication_fk FOREIGN KEY (as_of_date, run_id)
        REFERENCES publications (as_of_date, run_id),
    CONSTRAINT reserves_totals_level CHECK (level IN ('region', 'network')),
    CONSTRAINT reserves_totals_incidents_ordered
        CHECK (incidents_p50 >= 0 AND incidents_p50 <= incidents_p90 AND incidents_p90 <= incidents_p95),
    CONSTRAINT reserves_totals_loss_ordered
        CHECK (loss_eur_p50 >= 0 AND loss_eur_p50 <= loss_eur_p90 AND loss_eur_p90 <= loss_eur_p95),
    CONSTRAINT reserves_totals_period CHECK (step >= 1 AND period_end >= period_start)
);
