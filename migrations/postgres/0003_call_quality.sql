-- One row per participant per call: how the link held up, written when the
-- call's room empties. What a clinic director reads to see whether rural
-- patients are served; no clinical content.

CREATE TABLE call_quality (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consult_id            BIGINT NOT NULL REFERENCES consults (id),
    role                  TEXT NOT NULL CHECK (role IN ('patient', 'specialist', 'staff')),
    sampled_seconds       INTEGER NOT NULL CHECK (sampled_seconds >= 0),
    avg_bitrate_in_bps    BIGINT NOT NULL,
    avg_bitrate_out_bps   BIGINT NOT NULL,
    min_estimate_bps      BIGINT,
    avg_estimate_bps      BIGINT,
    max_loss_in           DOUBLE PRECISION,
    max_loss_out          DOUBLE PRECISION,
    max_rtt_ms            BIGINT,
    video_paused_seconds  INTEGER NOT NULL CHECK (video_paused_seconds >= 0),
    lowest_layer          INTEGER,
    recorded_at           TIMESTAMPTZ NOT NULL
);

CREATE INDEX call_quality_consult ON call_quality (consult_id);
