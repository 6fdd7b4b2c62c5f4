-- v1: the reserves table as riskcast 0.0 made it. One row per as_of_date, warehouse and
-- period; a rerun overwrote it in place (no history, no totals, no provenance).
-- Kept as the first migration so a database an older version created is upgraded by the
-- same path as a new one.
CREATE TABLE reserves (
    as_of_date     DATE NOT NULL,
    warehouse_id   VARCHAR(128) NOT NULL,
    period_start   DATE NOT NULL,
    incidents_p50  DOUBLE PRECISION NOT NULL,
    incidents_p90  DOUBLE PRECISION NOT NULL,
    incidents_p95  DOUBLE PRECISION NOT NULL,
    loss_eur_p50   NUMERIC(14, 2) NOT NULL,
    loss_eur_p90   NUMERIC(14, 2) NOT NULL,
    loss_eur_p95   NUMERIC(14, 2) NOT NULL,
    model_version  VARCHAR(128) NOT NULL,
    published_at   TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (as_of_date, warehouse_id, period_start)
);
