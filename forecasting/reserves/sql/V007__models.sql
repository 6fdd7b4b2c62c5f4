-- v7: the model registry's trusted half. The lake holds a model's files (any lake writer can
-- change them); this table holds, per model version, the sha256 of every artefact as
-- registered and the calibration gate's verdict on exactly those artefacts (figures,
-- ensemble weights). Append-only, like the rest: each registration or verdict is a new row
-- (seq 1, 2, ... per version); a version's state is its row with the highest seq, so a
-- retrain (new artefacts, event 'registered') resets the verdict until a backtest judges it.
CREATE TABLE models (
    model_version     VARCHAR(128) NOT NULL,
    seq               INTEGER NOT NULL,
    event             VARCHAR(16) NOT NULL,
    as_of_date        DATE NOT NULL,
    snapshot_id       VARCHAR(128) NOT NULL,
    code_version      VARCHAR(128) NOT NULL,
    artefacts         TEXT NOT NULL,
    gate_passed       BOOLEAN,
    gate_as_of        DATE,
    gate_snapshot_id  VARCHAR(128),
    gate_figures      TEXT,
    ensemble_weights  TEXT,
    recorded_at       TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT models_pk PRIMARY KEY (model_version, seq),
    CONSTRAINT models_event CHECK (event IN ('registered', 'gated')),
    CONSTRAINT models_seq_positive CHECK (seq >= 1)
);
