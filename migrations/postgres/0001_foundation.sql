-- Cerca foundation schema (Postgres). Keep in step with migrations/sqlite.
-- Times are UTC (timestamptz). Clinical rules that the law cares about are
-- enforced here by triggers, so they hold even for a direct SQL session.

CREATE TABLE clinics (
    clues       TEXT PRIMARY KEY CHECK (length(clues) BETWEEN 5 AND 20),
    name        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT '',
    time_zone   TEXT NOT NULL DEFAULT 'America/Mexico_City',
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'specialist', 'staff')),
    full_name      TEXT NOT NULL,
    cedula         TEXT,
    specialty      TEXT,
    clinic_clues   TEXT REFERENCES clinics (clues),
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (email),
    CONSTRAINT staff_has_clinic CHECK (role <> 'staff' OR clinic_clues IS NOT NULL),
    CONSTRAINT specialist_has_cedula CHECK (role <> 'specialist' OR cedula IS NOT NULL)
);

CREATE TABLE sessions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    ip           TEXT,
    user_agent   TEXT
);

CREATE TABLE patients (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    folio               TEXT NOT NULL UNIQUE,
    given_names         TEXT NOT NULL,
    family_names        TEXT NOT NULL,
    date_of_birth       DATE NOT NULL,
    sex                 TEXT NOT NULL CHECK (sex IN ('F', 'M', 'X')),
    phone               TEXT,
    preferred_language  TEXT NOT NULL DEFAULT 'es',
    curp                TEXT,
    registered_clinic   TEXT REFERENCES clinics (clues),
    created_by          BIGINT NOT NULL REFERENCES users (id),
    created_at          TIMESTAMPTZ NOT NULL,
    search_name         TEXT NOT NULL,
    CONSTRAINT patients_curp_unique UNIQUE (curp)
);
CREATE INDEX patients_search_name ON patients (search_name);

CREATE TABLE consults (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id      BIGINT NOT NULL REFERENCES patients (id),
    specialist_id   BIGINT NOT NULL REFERENCES users (id),
    clinic_clues    TEXT REFERENCES clinics (clues),
    starts_at       TIMESTAMPTZ NOT NULL,
    duration_min    INTEGER NOT NULL CHECK (duration_min BETWEEN 5 AND 240),
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'waiting', 'in_call', 'completed', 'cancelled', 'no_show')),
    cancel_reason   TEXT,
    created_by      BIGINT NOT NULL REFERENCES users (id),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX consults_specialist_start ON consults (specialist_id, starts_at);
CREATE INDEX consults_clinic_start ON consults (clinic_clues, starts_at);
CREATE INDEX consults_start ON consults (starts_at);

CREATE TABLE join_links (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consult_id   BIGINT NOT NULL REFERENCES consults (id),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);

CREATE TABLE consult_notes (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consult_id     BIGINT NOT NULL UNIQUE REFERENCES consults (id),
    author_id      BIGINT NOT NULL REFERENCES users (id),
    version        BIGINT NOT NULL,
    body           TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    signed_at      TIMESTAMPTZ,
    author_name    TEXT,
    author_cedula  TEXT,
    content_hash   TEXT
);

-- A signed note is frozen: no UPDATE, no DELETE, whoever asks. Corrections
-- are addenda. Drafts are never deleted either: there is no hard-delete path
-- for clinical records (kept at least five years, NOM-004).
CREATE FUNCTION consult_notes_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'consult notes are immutable records and cannot be deleted';
    END IF;
    IF OLD.signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'signed consult note % is immutable', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consult_notes_immutable
    BEFORE UPDATE OR DELETE ON consult_notes
    FOR EACH ROW EXECUTE FUNCTION consult_notes_guard();

CREATE TABLE note_addenda (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    note_id        BIGINT NOT NULL REFERENCES consult_notes (id),
    author_id      BIGINT NOT NULL REFERENCES users (id),
    author_name    TEXT NOT NULL,
    author_cedula  TEXT NOT NULL,
    body           TEXT NOT NULL,
    signed_at      TIMESTAMPTZ NOT NULL,
    content_hash   TEXT NOT NULL
);

CREATE FUNCTION note_addenda_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'signed addenda are immutable';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER note_addenda_immutable
    BEFORE UPDATE OR DELETE ON note_addenda
    FOR EACH ROW EXECUTE FUNCTION note_addenda_guard();

CREATE TABLE consents (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id       BIGINT NOT NULL REFERENCES patients (id),
    consult_id       BIGINT REFERENCES consults (id),
    kind             TEXT NOT NULL CHECK (kind IN ('privacy', 'recording')),
    notice_version   TEXT NOT NULL,
    language         TEXT NOT NULL,
    method           TEXT NOT NULL CHECK (method IN ('own_device', 'kiosk_witnessed')),
    witness_user_id  BIGINT REFERENCES users (id),
    granted_at       TIMESTAMPTZ NOT NULL,
    revoked_at       TIMESTAMPTZ,
    ip               TEXT,
    user_agent       TEXT,
    CONSTRAINT kiosk_consent_has_witness CHECK (method <> 'kiosk_witnessed' OR witness_user_id IS NOT NULL)
);
CREATE INDEX consents_consult ON consents (consult_id);

-- Consent rows are evidence: the only change allowed is recording a
-- revocation, once.
CREATE FUNCTION consents_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'consent records are append-only';
    END IF;
    IF OLD.revoked_at IS NOT NULL
       OR NEW.patient_id IS DISTINCT FROM OLD.patient_id
       OR NEW.consult_id IS DISTINCT FROM OLD.consult_id
       OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.notice_version IS DISTINCT FROM OLD.notice_version
       OR NEW.method IS DISTINCT FROM OLD.method
       OR NEW.witness_user_id IS DISTINCT FROM OLD.witness_user_id
       OR NEW.granted_at IS DISTINCT FROM OLD.granted_at THEN
        RAISE EXCEPTION 'consent records are append-only';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consents_append_only
    BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_guard();

CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  TIMESTAMPTZ NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     BIGINT,
    actor_role   TEXT NOT NULL,
    action       TEXT NOT NULL,
    patient_id   BIGINT,
    object_type  TEXT NOT NULL,
    object_id    TEXT,
    ip           TEXT,
    user_agent   TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    -- Each row names its predecessor, and a predecessor can have only one
    -- successor: two concurrent writers cannot fork the chain.
    CONSTRAINT audit_prev_unique UNIQUE (prev_hash),
    CONSTRAINT audit_hash_unique UNIQUE (hash)
);
CREATE INDEX audit_patient ON audit_log (patient_id);

CREATE FUNCTION audit_log_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();

-- TRUNCATE skips row triggers; refuse it on the tables that must not shrink.
CREATE FUNCTION refuse_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER consult_notes_no_truncate BEFORE TRUNCATE ON consult_notes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER note_addenda_no_truncate BEFORE TRUNCATE ON note_addenda
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
