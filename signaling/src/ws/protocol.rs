//! The `/ws` wire format (docs/protocol.md, version 1) as typed enums: what a
//! client may send ([`ClientMessage`]) and what the server sends
//! ([`ServerMessage`]). Text is parsed here, at the edge, so the session only
//! ever sees a well-formed message or a [`ProtocolError`] to answer with.

use serde::{Deserialize, Serialize};

use super::Peer;

/// Largest SDP accepted in `offer`/`answer` (a frame is capped at 64 KiB too).
pub const MAX_SDP: usize = 32 * 1024;

/// Longest round trip a `network` message may report (ms): a GEO satellite
/// hop is about 600, a congested 2G cell a few thousand; more is a broken
/// measurement.
pub const MAX_LINK_RTT_MS: u32 = 10_000;

/// A message from the browser.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Staff and specialists name the consult; a patient's comes from their token.
    Join {
        #[serde(default)]
        consult_id: Option<i64>,
    },
    Admit {},
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Mute {
        audio: bool,
        video: bool,
    },
    /// What the client measured of its network before the call (the
    /// patient's network check): the others' players allow for its round
    /// trip from the first frame, before the relay has measured the call.
    Network {
        rtt_ms: u32,
    },
    Chat {
        text: String,
    },
    Leave {},
    End {},
    /// Take over a participant whose socket dropped during a call.
    /// `restart_media`: the client lost its peer connection and will send a
    /// fresh `offer` (the relay forgets the old one).
    Resume {
        participant_id: String,
        token: String,
        #[serde(default)]
        restart_media: bool,
    },
}

/// Every `type` a client may send, to tell `unknown_type` from `malformed`.
const CLIENT_TYPES: &[&str] = &[
    "join", "admit", "offer", "answer", "mute", "network", "chat", "leave", "end", "resume",
];

/// Who a participant is in the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    Specialist,
    Staff,
    Patient,
}

/// `{participant}` in the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    pub participant_id: String,
    pub role: ParticipantRole,
    pub display_name: String,
    pub audio: bool,
    pub video: bool,
    /// The round trip this participant reported in a `network` message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_rtt_ms: Option<u32>,
}

impl ParticipantRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantRole::Specialist => "specialist",
            ParticipantRole::Staff => "staff",
            ParticipantRole::Patient => "patient",
        }
    }
}

/// A message to the browser.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    Hello {
        version: u32,
        peer: Peer,
        /// This socket's participant id and the token that resumes it (a
        /// `resume` from a new socket within the grace period) if it drops
        /// while in a call.
        participant_id: String,
        resume_token: String,
    },
    /// A `resume` worked: this socket is `participant_id` again, still in
    /// the call with `participants`.
    Resumed {
        participant_id: String,
        participants: Vec<Participant>,
    },
    Joined {
        participant_id: String,
        participants: Vec<Participant>,
    },
    Waiting,
    PatientWaiting {
        consult_id: i64,
        patient_name: String,
    },
    Admitted {
        participant_id: String,
    },
    Answer {
        sdp: String,
    },
    Offer {
        sdp: String,
    },
    ParticipantJoined {
        participant: Participant,
    },
    ParticipantLeft {
        participant_id: String,
    },
    ParticipantUpdated {
        participant: Participant,
    },
    Chat {
        from: String,
        display_name: String,
        text: String,
        /// RFC 3339.
        at: String,
    },
    Ended,
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The relay stopped sending `participant_id`'s video to this client
    /// (audio goes on); `reason` is `bandwidth` when its link is too slow.
    VideoPaused {
        participant_id: String,
        reason: String,
    },
    /// `participant_id`'s video flows to this client again.
    VideoResumed {
        participant_id: String,
    },
    /// Of this client's simulcast video on `mid`, only the encodings `active`
    /// (RIDs) are taken by anyone: stop sending the others until told again.
    Layers {
        mid: String,
        active: Vec<String>,
        /// The most (bit/s) each named encoding should send, when capped.
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        max_bitrate: std::collections::BTreeMap<String, u64>,
    },
    /// The relay's view of this client's link, every few seconds.
    Quality(QualityReport),
}

/// The figures in a `quality` message (docs/protocol.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// What the relay receives from this client, bit/s.
    pub bitrate_in: u64,
    /// What the relay sends to this client, bit/s.
    pub bitrate_out: u64,
    /// The relay's estimate of this client's downlink, bit/s.
    pub estimate: Option<u64>,
    /// Fractions 0–1 of packets lost toward the relay and toward the client.
    pub loss_in: Option<f32>,
    pub loss_out: Option<f32>,
    pub rtt_ms: Option<u64>,
    /// Per received video: its publisher, the layer (0 = lowest) or `null`
    /// while paused.
    pub video: Vec<QualityVideo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QualityVideo {
    pub participant_id: String,
    pub layer: Option<u8>,
    /// The publisher's round trip to the relay: a packet lost on its uplink
    /// comes back that much later, so the viewer's playout delay must cover
    /// it (the viewer's own round trip says nothing of that leg).
    pub sender_rtt_ms: Option<u64>,
}

/// The `code` of an `error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Malformed,
    UnknownType,
    NotAllowed,
    NotInRoom,
    BadSdp,
    IllegalTransition,
    RoomFull,
    /// Not in the documented list: the server failed (e.g. its database); retry.
    Internal,
}

/// A refused message: becomes an `error` reply, never a closed socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
        }
    }

    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotAllowed, message)
    }

    pub fn not_in_room() -> Self {
        Self::new(ErrorCode::NotInRoom, "join the consult's room first")
    }

    pub fn into_message(self) -> ServerMessage {
        ServerMessage::Error {
            code: self.code,
            message: self.message,
        }
    }
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("not JSON: {e}")))?;
    let Some(kind) = value.get("type").and_then(|t| t.as_str()).map(str::to_owned) else {
        return Err(ProtocolError::new(
            ErrorCode::Malformed,
            "expected an object with a string \"type\"",
        ));
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        return Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!("unknown message type {:?}", kind.chars().take(40).collect::<String>()),
        ));
    }
    let msg: ClientMessage = serde_json::from_value(value)
        .map_err(|e| ProtocolError::new(ErrorCode::Malformed, format!("bad {kind} message: {e}")))?;
    match &msg {
        ClientMessage::Offer { sdp } | ClientMessage::Answer { sdp } if sdp.len() > MAX_SDP => {
            Err(ProtocolError::new(ErrorCode::BadSdp, "the SDP is too long"))
        }
        ClientMessage::Network { rtt_ms } if *rtt_ms > MAX_LINK_RTT_MS => Err(ProtocolError::new(
            ErrorCode::Malformed,
            format!("rtt_ms must be 0-{MAX_LINK_RTT_MS}"),
        )),
        _ => Ok(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        parse(text).unwrap_err().code
    }

    #[test]
    fn parses_every_client_message() {
        assert_eq!(
            parse(r#"{"type":"join"}"#),
            Ok(ClientMessage::Join { consult_id: None })
        );
        assert_eq!(
            parse(r#"{"type":"join","consult_id":12}"#),
            Ok(ClientMessage::Join { consult_id: Some(12) })
        );
        assert_eq!(parse(r#"{"type":"admit"}"#), Ok(ClientMessage::Admit {}));
        assert_eq!(
            parse(r#"{"type":"offer","sdp":"v=0"}"#),
            Ok(ClientMessage::Offer { sdp: "v=0".into() })
        );
        assert_eq!(
            parse(r#"{"type":"mute","audio":true,"video":false}"#),
            Ok(ClientMessage::Mute {
                audio: true,
                video: false
            })
        );
        assert_eq!(
            parse(r#"{"type":"chat","text":"hola"}"#),
            Ok(ClientMessage::Chat { text: "hola".into() })
        );
        assert_eq!(
            parse(r#"{"type":"network","rtt_ms":640}"#),
            Ok(ClientMessage::Network { rtt_ms: 640 })
        );
        assert_eq!(parse(r#"{"type":"leave"}"#), Ok(ClientMessage::Leave {}));
        assert_eq!(parse(r#"{"type":"end"}"#), Ok(ClientMessage::End {}));
    }

    #[test]
    fn tells_malformed_from_unknown() {
        assert_eq!(code("{not json"), ErrorCode::Malformed);
        assert_eq!(code("[]"), ErrorCode::Malformed);
        assert_eq!(code("{}"), ErrorCode::Malformed);
        assert_eq!(code(r#"{"type":7}"#), ErrorCode::Malformed);
        assert_eq!(code(r#"{"type":"launch-missiles"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"hello"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"offer"}"#), ErrorCode::Malformed);
        assert_eq!(
            code(r#"{"type":"mute","audio":"yes","video":true}"#),
            ErrorCode::Malformed
        );
        assert_eq!(code(r#"{"type":"admit","extra":1}"#), ErrorCode::Malformed);
        assert_eq!(code(r#"{"type":"chat","text":"x","extra":1}"#), ErrorCode::Malformed);
        let huge = format!(r#"{{"type":"offer","sdp":"{}"}}"#, "a".repeat(MAX_SDP + 1));
        assert_eq!(code(&huge), ErrorCode::BadSdp);
        for rtt in ["-1", "640.5", "\"640\"", "null", "10001", "1e12"] {
            let text = format!(r#"{{"type":"network","rtt_ms":{rtt}}}"#);
            assert_eq!(code(&text), ErrorCode::Malformed, "{text}");
        }
        assert_eq!(code(r#"{"type":"network"}"#), ErrorCode::Malformed);
        assert!(parse(r#"{"type":"network","rtt_ms":10000}"#).is_ok());
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let json = |m: &ServerMessage| serde_json::to_value(m).unwrap();
        assert_eq!(json(&ServerMessage::Waiting), serde_json::json!({"type": "waiting"}));
        assert_eq!(json(&ServerMessage::Ended), serde_json::json!({"type": "ended"}));
        assert_eq!(
            json(&ServerMessage::PatientWaiting {
                consult_id: 12,
                patient_name: "María José".into()
            }),
            serde_json::json!({"type": "patient-waiting", "consult_id": 12, "patient_name": "María José"})
        );
        assert_eq!(
            json(&ServerMessage::ParticipantJoined {
                participant: Participant {
                    participant_id: "p3".into(),
                    role: ParticipantRole::Specialist,
                    display_name: "Dra. Ana".into(),
                    audio: true,
                    video: false,
                    link_rtt_ms: None,
                }
            }),
            serde_json::json!({"type": "participant-joined", "participant": {
                "participant_id": "p3", "role": "specialist", "display_name": "Dra. Ana", "audio": true, "video": false}})
        );
        assert_eq!(
            json(&ServerMessage::ParticipantUpdated {
                participant: Participant {
                    participant_id: "p4".into(),
                    role: ParticipantRole::Patient,
                    display_name: "Rosa".into(),
                    audio: true,
                    video: true,
                    link_rtt_ms: Some(640),
                }
            }),
            serde_json::json!({"type": "participant-updated", "participant": {
                "participant_id": "p4", "role": "patient", "display_name": "Rosa", "audio": true, "video": true,
                "link_rtt_ms": 640}})
        );
        assert_eq!(
            json(&ProtocolError::new(ErrorCode::IllegalTransition, "no").into_message()),
            serde_json::json!({"type": "error", "code": "illegal_transition", "message": "no"})
        );
    }
}
