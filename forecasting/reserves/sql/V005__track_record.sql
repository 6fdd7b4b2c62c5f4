-- v5: the track record. Each published figure (the current run of every as_of_date, every
-- warehouse, region and the network, every period) against what then happened, once the
-- period has ended: realised incidents and loss, whether each stayed within the published
-- P50/P90/P95, whether the publication was the one in force when the period began (the live
-- record) and whether late lines have had time to arrive (settled). Derived data: every
-- scoring (`riskcast track --as-of D`, the forecast DAG's `track` task) replaces the rows it
-- scored with the values on the data of D; a later scoring is never replaced by an earlier one.
CREATE TABLE track_record (
    as_of_date            DATE NOT NULL,
    run_id                VARCHAR(128) NOT NULL,
    level                 VARCHAR(16) NOT NULL,
    id                    VARCHAR(128) NOT NULL,
    region                VARCHAR(128),
    period_start          DATE NOT NULL,
    period_end            DATE NOT NULL,
    step                  INTEGER NOT NULL,
    incidents_p50         DOUBLE PRECISION NOT NULL,
    incidents_p90         DOUBLE PRECISION NOT NULL,
    incidents_p95         DOUBLE PRECISION NOT NULL,
    loss_eur_p50          NUMERIC(14, 2) NOT NULL,
    loss_eur_p90          NUMERIC(14, 2) NOT NULL,
    loss_eur_p95          NUMERIC(14, 2) NOT NULL,
    incidents_actual      DOUBLE PRECISION,
    loss_eur_actual       NUMERIC(14, 2),
    incidents_within_p50  BOOLEAN,
    incidents_within_p90  BOOLEAN,
    incidents_within_p95  BOOLEAN,
    loss_eur_within_p50   BOOLEAN,
    loss_eur_within_p90   BOOLEAN,
    loss_eur_within_p95   BOOLEAN,
    in_force              BOOLEAN NOT NULL,
    settled               BOOLEAN NOT NULL,
    scored_as_of          DATE NOT NULL,
    CONSTRAINT track_record_pk PRIMARY KEY (as_of_date, run_id, level, id, period_start),
    CONSTRAINT track_record_publication_fk FOREIGN KEY (as_of_date, run_id)
        REFERENCES publications (as_of_date, run_id),
    CONSTRAINT track_record_level CHECK (level IN ('warehouse', 'region', 'network')),
    CONSTRAINT track_record_after_the_fact
        CHECK (as_of_date < scored_as_of AND period_end <= scored_as_of AND period_end >= period_start),
    CONSTRAINT track_record_actuals CHECK (incidents_actual >= 0 AND loss_eur_actual >= 0)
);
CREATE INDEX track_record_period ON track_record (period_start);

-- what finance reads: the scored rows of the current run of every as_of_date
CREATE VIEW reserves_track_record AS
SELECT t.*
FROM track_record t
JOIN publications p ON p.as_of_date = t.as_of_date AND p.run_id = t.run_id
WHERE p.is_current = TRUE;
