-- Cerca foundation schema (SQLite). Keep in step with migrations/postgres.
-- Times are UTC, stored as RFC 3339 text (sqlx's encoding of DateTime<Utc>),
-- which sorts correctly as text. The same triggers as on Postgres enforce
-- that signed notes are immutable and the audit log is append-only.

CREATE TABLE clinics (
    clues       TEXT PRIMARY KEY CHECK (length(clues) BETWEEN 5 AND 20),
    name        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT '',
    time_zone   TEXT NOT NULL DEFAULT 'America/Mexico_City',
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'specialist', 'staff')),
    full_name      TEXT NOT NULL,
    cedula         TEXT,
    specialty      TEXT,
    clinic_clues   TEXT REFERENCES clinics (clues),
    active         BOOLEAN NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (email),
    CONSTRAINT staff_has_clinic CHECK (role <> 'staff' OR clinic_clues IS NOT NULL),
    CONSTRAINT specialist_has_cedula CHECK (role <> 'specialist' OR cedula IS NOT NULL)
);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT,
    ip           TEXT,
    user_agent   TEXT
);

CREATE TABLE patients (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    folio               TEXT NOT NULL UNIQUE,
    given_names         TEXT NOT NULL,
    family_names        TEXT NOT NULL,
    date_of_birth       TEXT NOT NULL,
    sex                 TEXT NOT NULL CHECK (sex IN ('F', 'M', 'X')),
    phone               TEXT,
    preferred_language  TEXT NOT NULL DEFAULT 'es',
    curp                TEXT,
    registered_clinic   TEXT REFERENCES clinics (clues),
    created_by          INTEGER NOT NULL REFERENCES users (id),
    created_at          TEXT NOT NULL,
    search_name         TEXT NOT NULL,
    CONSTRAINT patients_curp_unique UNIQUE (curp)
);
CREATE INDEX patients_search_name ON patients (search_name);

CREATE TABLE consults (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    specialist_id   INTEGER NOT NULL REFERENCES users (id),
    clinic_clues    TEXT REFERENCES clinics (clues),
    starts_at       TEXT NOT NULL,
    duration_min    INTEGER NOT NULL CHECK (duration_min BETWEEN 5 AND 240),
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'waiting', 'in_call', 'completed', 'cancelled', 'no_show')),
    cancel_reason   TEXT,
    created_by      INTEGER NOT NULL REFERENCES users (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX consults_specialist_start ON consults (specialist_id, starts_at);
CREATE INDEX consults_clinic_start ON consults (clinic_clues, starts_at);
CREATE INDEX consults_start ON consults (starts_at);

CREATE TABLE join_links (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    consult_id   INTEGER NOT NULL REFERENCES consults (id),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);

CREATE TABLE consult_notes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    consult_id     INTEGER NOT NULL UNIQUE REFERENCES consults (id),
    author_id      INTEGER NOT NULL REFERENCES users (id),
    version        INTEGER NOT NULL,
    body           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    signed_at      TEXT,
    author_name    TEXT,
    author_cedula  TEXT,
    content_hash   TEXT
);

CREATE TRIGGER consult_notes_immutable_update
BEFORE UPDATE ON consult_notes
WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'signed consult note is immutable');
END;

CREATE TRIGGER consult_notes_no_delete
BEFORE DELETE ON consult_notes
BEGIN
    SELECT RAISE(ABORT, 'consult notes are immutable records and cannot be deleted');
END;

CREATE TABLE note_addenda (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    note_id        INTEGER NOT NULL REFERENCES consult_notes (id),
    author_id      INTEGER NOT NULL REFERENCES users (id),
    author_name    TEXT NOT NULL,
    author_cedula  TEXT NOT NULL,
    body           TEXT NOT NULL,
    signed_at      TEXT NOT NULL,
    content_hash   TEXT NOT NULL
);

CREATE TRIGGER note_addenda_immutable_update
BEFORE UPDATE ON note_addenda
BEGIN
    SELECT RAISE(ABORT, 'signed addenda are immutable');
END;

CREATE TRIGGER note_addenda_immutable_delete
BEFORE DELETE ON note_addenda
BEGIN
    SELECT RAISE(ABORT, 'signed addenda are immutable');
END;

CREATE TABLE consents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id       INTEGER NOT NULL REFERENCES patients (id),
    consult_id       INTEGER REFERENCES consults (id),
    kind             TEXT NOT NULL CHECK (kind IN ('privacy', 'recording')),
    notice_version   TEXT NOT NULL,
    language         TEXT NOT NULL,
    method           TEXT NOT NULL CHECK (method IN ('own_device', 'kiosk_witnessed')),
    witness_user_id  INTEGER REFERENCES users (id),
    granted_at       TEXT NOT NULL,
    revoked_at       TEXT,
    ip               TEXT,
    user_agent       TEXT,
    CONSTRAINT kiosk_consent_has_witness CHECK (method <> 'kiosk_witnessed' OR witness_user_id IS NOT NULL)
);
CREATE INDEX consents_consult ON consents (consult_id);

CREATE TRIGGER consents_append_only_update
BEFORE UPDATE ON consents
WHEN OLD.revoked_at IS NOT NULL
  OR NEW.patient_id IS NOT OLD.patient_id
  OR NEW.consult_id IS NOT OLD.consult_id
  OR NEW.kind IS NOT OLD.kind
  OR NEW.notice_version IS NOT OLD.notice_version
  OR NEW.method IS NOT OLD.method
  OR NEW.witness_user_id IS NOT OLD.witness_user_id
  OR NEW.granted_at IS NOT OLD.granted_at
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

CREATE TRIGGER consents_no_delete
BEFORE DELETE ON consents
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at  TEXT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     INTEGER,
    actor_role   TEXT NOT NULL,
    action       TEXT NOT NULL,
    patient_id   INTEGER,
    object_type  TEXT NOT NULL,
    object_id    TEXT,
    ip           TEXT,
    user_agent   TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    CONSTRAINT audit_prev_unique UNIQUE (prev_hash),
    CONSTRAINT audit_hash_unique UNIQUE (hash)
);
CREATE INDEX audit_patient ON audit_log (patient_id);

CREATE TRIGGER audit_log_no_update
BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete
BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
