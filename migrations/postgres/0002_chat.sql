-- The consult's chat: each line as it was sent, kept with the consult.

CREATE TABLE chat_messages (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consult_id         BIGINT NOT NULL REFERENCES consults (id),
    sender_kind        TEXT NOT NULL CHECK (sender_kind IN ('user', 'patient')),
    sender_user_id     BIGINT REFERENCES users (id),
    sender_patient_id  BIGINT REFERENCES patients (id),
    display_name       TEXT NOT NULL,
    body               TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    sent_at            TIMESTAMPTZ NOT NULL,
    CHECK ((sender_kind = 'user') = (sender_user_id IS NOT NULL)),
    CHECK ((sender_kind = 'patient') = (sender_patient_id IS NOT NULL))
);

CREATE INDEX chat_messages_consult ON chat_messages (consult_id, id);
