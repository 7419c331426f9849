//! The one error type of the relay's API: everything a caller (the signaling
//! layer) can get wrong or run into, as values it can map to a WebSocket reply.
//! Bad input from a client (an SDP that does not parse, an answer nobody asked
//! for) is an `Err`, never a panic.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayError {
    /// No participant by that name is in any room.
    UnknownParticipant(String),
    /// The name is already taken by a participant in some room.
    AlreadyJoined(String),
    /// The consult already has the most participants a room takes.
    RoomFull { room: String, max: usize },
    /// The SDP text does not parse.
    BadSdp(String),
    /// The SDP parsed but str0m refused it (e.g. both sides ICE-lite).
    Rejected(String),
    /// An answer arrived while the relay had no offer outstanding.
    NoPendingOffer(String),
    /// The relay's task has stopped (its socket failed or it was shut down).
    RelayGone,
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::UnknownParticipant(p) => write!(f, "unknown participant {p:?}"),
            RelayError::AlreadyJoined(p) => write!(f, "participant {p:?} has already joined"),
            RelayError::RoomFull { room, max } => write!(f, "room {room:?} is full ({max})"),
            RelayError::BadSdp(e) => write!(f, "SDP does not parse: {e}"),
            RelayError::Rejected(e) => write!(f, "SDP refused: {e}"),
            RelayError::NoPendingOffer(p) => write!(f, "no offer outstanding for {p:?}"),
            RelayError::RelayGone => write!(f, "the relay has stopped"),
        }
    }
}

impl std::error::Error for RelayError {}
