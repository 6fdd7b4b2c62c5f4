-- v8: restatements. A past day whose landing files were added, changed or removed after it was
-- ingested is re-ingested by the ingest runs' sweep (forecasting/validation/sweep.py); each such
-- restatement is a row here (its source, day and the digest of the landing files now). The
-- publication that first carries a restatement says so in `publications.reason` and is linked
-- to it in `publication_restatements` (each restatement is carried once: the next new run).
CREATE TABLE restatements (
    source          VARCHAR(64) NOT NULL,
    day             DATE NOT NULL,
    landing_digest  VARCHAR(64) NOT NULL,
    detected_on     DATE NOT NULL,
    files_added     TEXT NOT NULL,
    files_changed   TEXT NOT NULL,
    files_removed   TEXT NOT NULL,
    rows_before     INTEGER,
    rows_after      INTEGER,
    reason          VARCHAR(2000) NOT NULL,
    recorded_at     TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT restatements_pk PRIMARY KEY (source, day, landing_digest),
    CONSTRAINT restatements_rows_nonneg CHECK ((rows_before IS NULL OR rows_before >= 0)
                                               AND (rows_after IS NULL OR rows_after >= 0))
);

ALTER TABLE publications ADD COLUMN reason VARCHAR(2000);

CREATE TABLE publication_restatements (
    as_of_date      DATE NOT NULL,
    run_id          VARCHAR(128) NOT NULL,
    source          VARCHAR(64) NOT NULL,
    day             DATE NOT NULL,
    landing_digest  VARCHAR(64) NOT NULL,
    CONSTRAINT publication_restatements_pk PRIMARY KEY (source, day, landing_digest),
    CONSTRAINT publication_restatements_publication_fk FOREIGN KEY (as_of_date, run_id)
        REFERENCES publications (as_of_date, run_id),
    CONSTRAINT publication_restatements_restatement_fk FOREIGN KEY (source, day, landing_digest)
        REFERENCES restatements (source, day, landing_digest)
);
