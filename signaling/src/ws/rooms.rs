//! The room registry: every open `/ws` socket, and per consult who is in the
//! room and which patient waits to be admitted. It owns the per-socket
//! outboxes, so any task (another socket, the relay's event router) can send
//! to a participant by id.
//!
//! Why a `std::sync::Mutex`: each operation is a few map lookups and
//! `try_send`s, and the lock is **never held across an `.await`** — database
//! work and relay calls happen in the session before or after, never inside.
//! A socket whose bounded outbox is full is too slow to keep up: it is told
//! to close (its `kick`) rather than letting a broadcast wait on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, watch, Notify};

use super::protocol::{Participant, ParticipantRole, ProtocolError, ServerMessage};
use crate::auth::{token, CurrentUser};

/// Messages queued for one socket before it counts as too slow.
pub const OUTBOX: usize = 64;
/// The relay's room size (`media_relay::engine::DEFAULT_MAX_PER_ROOM`).
pub const MAX_PER_ROOM: usize = 6;

/// Where a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The patient, in the waiting room of this consult.
    Waiting(i64),
    /// In this consult's call.
    InRoom(i64),
}

/// What a new socket gets from [`Rooms::register`].
pub struct Registration {
    pub participant_id: String,
    /// Given to the client in `hello`: a socket that drops while in a call
    /// can be resumed with it (same participant id, no re-admission) within
    /// the grace period.
    pub resume_token: String,
    pub outbox: mpsc::Receiver<ServerMessage>,
    /// Notified when the socket must close (replaced, or too slow).
    pub kick: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
}

/// A socket that left a place: what the caller still has to undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    pub place: Place,
    /// It had joined the media relay: call `RelayHandle::leave`.
    pub in_relay: bool,
}

pub struct Rooms {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    shutdown: watch::Sender<bool>,
}

#[derive(Default)]
struct Inner {
    sockets: HashMap<String, Socket>,
    rooms: HashMap<i64, Room>,
}

struct Socket {
    tx: mpsc::Sender<ServerMessage>,
    kick: Arc<Notify>,
    /// Staff and specialists: who, to tell them of waiting patients.
    user: Option<CurrentUser>,
    place: Option<Place>,
    /// Set while placed.
    profile: Option<Participant>,
    in_relay: bool,
    /// Who may resume this participant: `user:<id>` or `patient:<consult>`.
    owner: String,
    /// SHA-256 of the resume token.
    resume_hash: String,
    /// The socket dropped while in a call; its place is kept for a grace
    /// period in case the same person comes back ([`Rooms::resume`]).
    detached: bool,
}

#[derive(Default)]
struct Room {
    /// Participant ids in the call, in join order.
    members: Vec<String>,
    waiting: Option<(String, String)>,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms {
            inner: Mutex::default(),
            next_id: AtomicU64::new(1),
            shutdown: watch::Sender::new(false),
        }
    }
}

impl Socket {
    fn deliver(&self, msg: ServerMessage) {
        match self.tx.try_send(msg) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.kick.notify_one(),
        }
    }
}

impl Inner {
    fn send(&self, pid: &str, msg: ServerMessage) {
        if let Some(s) = self.sockets.get(pid) {
            s.deliver(msg);
        }
    }

    fn profile(&self, pid: &str) -> Option<Participant> {
        self.sockets.get(pid).and_then(|s| s.profile.clone())
    }

    fn members(&self, consult_id: i64) -> Vec<String> {
        self.rooms
            .get(&consult_id)
            .map(|r| r.members.clone())
            .unwrap_or_default()
    }

    /// Takes `pid` out of its place, telling the room if it was in the call.
    fn unplace(&mut self, pid: &str) -> Option<Departure> {
        let socket = self.sockets.get_mut(pid)?;
        let place = socket.place.take()?;
        socket.profile = None;
        let in_relay = std::mem::take(&mut socket.in_relay);
        match place {
            Place::Waiting(consult_id) => {
                if let Some(room) = self.rooms.get_mut(&consult_id) {
                    if room.waiting.as_ref().is_some_and(|(w, _)| w == pid) {
                        room.waiting = None;
                    }
                }
            }
            Place::InRoom(consult_id) => {
                if let Some(room) = self.rooms.get_mut(&consult_id) {
                    room.members.retain(|m| m != pid);
                }
                for other in self.members(consult_id) {
                    self.send(
                        &other,
                        ServerMessage::ParticipantLeft {
                            participant_id: pid.to_string(),
                        },
                    );
                }
            }
        }
        let consult_id = match place {
            Place::Waiting(c) | Place::InRoom(c) => c,
        };
        if self
            .rooms
            .get(&consult_id)
            .is_some_and(|r| r.members.is_empty() && r.waiting.is_none())
        {
            self.rooms.remove(&consult_id);
        }
        Some(Departure { place, in_relay })
    }
}

impl Rooms {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind, still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new socket: its participant id (`p` + a per-process counter),
    /// outbox and resume token. `owner` names who may resume it.
    pub fn register(&self, user: Option<CurrentUser>, owner: String) -> Registration {
        let participant_id = format!("p{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, outbox) = mpsc::channel(OUTBOX);
        let kick = Arc::new(Notify::new());
        let resume_token = token::generate();
        self.lock().sockets.insert(
            participant_id.clone(),
            Socket {
                tx,
                kick: kick.clone(),
                user,
                place: None,
                profile: None,
                in_relay: false,
                owner,
                resume_hash: token::hash(&resume_token),
                detached: false,
            },
        );
        Registration {
            participant_id,
            resume_token,
            outbox,
            kick,
            shutdown: self.shutdown.subscribe(),
        }
    }

    /// The socket of `pid` dropped. In a call, its place (and relay
    /// membership) is kept, detached, and `true` returned: call
    /// [`Rooms::expire`] after the grace period. Otherwise the caller
    /// unregisters it at once.
    pub fn detach(&self, pid: &str) -> bool {
        let mut inner = self.lock();
        match inner.sockets.get_mut(pid) {
            Some(s) if matches!(s.place, Some(Place::InRoom(_))) => {
                s.detached = true;
                true
            }
            _ => false,
        }
    }

    /// The grace period of a detached `pid` is over: if nobody resumed it,
    /// it leaves the room as a closed socket would. Returns whether it had
    /// joined the relay (the caller leaves it there).
    pub fn expire(&self, pid: &str) -> bool {
        if !self.lock().sockets.get(pid).is_some_and(|s| s.detached) {
            return false;
        }
        self.unregister(pid)
    }

    /// The socket `new_pid` takes over the detached participant `old_pid`:
    /// same participant id, place and relay membership; `new_pid` is
    /// forgotten. Needs the resume token from `old_pid`'s `hello` and the
    /// same owner. Returns the others in the call.
    pub fn resume(&self, new_pid: &str, old_pid: &str, resume_token: &str) -> Result<Vec<Participant>, ProtocolError> {
        let refused = || ProtocolError::not_allowed("nothing to resume: the call went on without you; join again");
        let mut inner = self.lock();
        let new_owner = match inner.sockets.get(new_pid) {
            Some(s) if s.place.is_none() => s.owner.clone(),
            _ => return Err(ProtocolError::not_allowed("already in a room; leave first")),
        };
        let old = inner.sockets.get(old_pid).ok_or_else(refused)?;
        if !old.detached || old.owner != new_owner || old.resume_hash != token::hash(resume_token) {
            return Err(refused());
        }
        let Some(Place::InRoom(consult_id)) = old.place else {
            return Err(refused());
        };
        let new = inner.sockets.remove(new_pid).ok_or_else(refused)?;
        let old = inner.sockets.get_mut(old_pid).ok_or_else(refused)?;
        old.tx = new.tx;
        old.kick = new.kick;
        old.resume_hash = new.resume_hash;
        old.detached = false;
        let others = inner
            .members(consult_id)
            .iter()
            .filter(|m| *m != old_pid)
            .filter_map(|m| inner.profile(m))
            .collect();
        Ok(others)
    }

    /// The socket closed: out of its room, and forgotten. Returns whether it
    /// had joined the media relay.
    pub fn unregister(&self, pid: &str) -> bool {
        let mut inner = self.lock();
        let departure = inner.unplace(pid);
        let socket = inner.sockets.remove(pid);
        departure.is_some_and(|d| d.in_relay) || socket.is_some_and(|s| s.in_relay)
    }

    pub fn place(&self, pid: &str) -> Option<Place> {
        self.lock().sockets.get(pid).and_then(|s| s.place)
    }

    /// Enters the call of `consult_id` (staff and specialists directly, a
    /// patient through [`Rooms::admit`]). Returns the others in the call and
    /// the name of a patient waiting, if any.
    pub fn join(
        &self,
        pid: &str,
        consult_id: i64,
        profile: Participant,
    ) -> Result<(Vec<Participant>, Option<String>), ProtocolError> {
        let mut inner = self.lock();
        if inner.sockets.get(pid).is_none_or(|s| s.place.is_some()) {
            return Err(ProtocolError::not_allowed("already in a room; leave first"));
        }
        let room = inner.rooms.entry(consult_id).or_default();
        if room.members.len() >= MAX_PER_ROOM {
            return Err(ProtocolError::new(
                super::protocol::ErrorCode::RoomFull,
                format!("a consult takes at most {MAX_PER_ROOM} participants"),
            ));
        }
        room.members.push(pid.to_string());
        let waiting = room.waiting.as_ref().map(|(_, name)| name.clone());
        let members = room.members.clone();
        if let Some(s) = inner.sockets.get_mut(pid) {
            s.place = Some(Place::InRoom(consult_id));
            s.profile = Some(profile.clone());
        }
        let mut others = Vec::new();
        for other in members.iter().filter(|m| *m != pid) {
            if let Some(p) = inner.profile(other) {
                others.push(p);
            }
            inner.send(
                other,
                ServerMessage::ParticipantJoined {
                    participant: profile.clone(),
                },
            );
        }
        Ok((others, waiting))
    }

    /// Puts the patient on `pid` in the waiting room of `consult_id` and
    /// tells the staff in the call. A previous socket of the same patient
    /// (another tab, or a connection that died unnoticed) is told to close.
    /// Returns the staff and specialist sockets *not* in the room, to be told
    /// too if they may see the consult.
    pub fn wait(
        &self,
        pid: &str,
        consult_id: i64,
        profile: Participant,
    ) -> Result<Vec<(String, CurrentUser)>, ProtocolError> {
        let mut inner = self.lock();
        if inner.sockets.get(pid).is_none_or(|s| s.place.is_some()) {
            return Err(ProtocolError::not_allowed("already waiting or in the room"));
        }
        let name = profile.display_name.clone();
        let room = inner.rooms.entry(consult_id).or_default();
        let previous = room.waiting.replace((pid.to_string(), name.clone())).map(|(p, _)| p);
        let members = room.members.clone();
        let in_call_patient = members
            .iter()
            .find(|m| inner.profile(m).is_some_and(|p| p.role == ParticipantRole::Patient))
            .cloned();
        for old in previous.into_iter().chain(in_call_patient) {
            if let Some(s) = inner.sockets.get(&old) {
                s.kick.notify_one();
            }
        }
        if let Some(s) = inner.sockets.get_mut(pid) {
            s.place = Some(Place::Waiting(consult_id));
            s.profile = Some(profile);
        }
        let alert = ServerMessage::PatientWaiting {
            consult_id,
            patient_name: name,
        };
        for m in &members {
            inner.send(m, alert.clone());
        }
        Ok(inner
            .sockets
            .iter()
            .filter(|(_, s)| s.place != Some(Place::InRoom(consult_id)))
            .filter_map(|(p, s)| s.user.clone().map(|u| (p.clone(), u)))
            .collect())
    }

    /// Whether a patient waits in `consult_id`'s waiting room.
    pub fn has_waiting(&self, consult_id: i64) -> bool {
        self.lock().rooms.get(&consult_id).is_some_and(|r| r.waiting.is_some())
    }

    /// Moves the waiting patient into the call: `admitted` to them, who is
    /// there as `participant-joined` to them, and them to the others.
    pub fn admit(&self, consult_id: i64) -> Result<String, ProtocolError> {
        let mut inner = self.lock();
        let Some(room) = inner.rooms.get_mut(&consult_id) else {
            return Err(ProtocolError::not_allowed("no patient is waiting"));
        };
        if room.members.len() >= MAX_PER_ROOM {
            return Err(ProtocolError::new(
                super::protocol::ErrorCode::RoomFull,
                format!("a consult takes at most {MAX_PER_ROOM} participants"),
            ));
        }
        let Some((patient, _)) = room.waiting.take() else {
            return Err(ProtocolError::not_allowed("no patient is waiting"));
        };
        let others = room.members.clone();
        room.members.push(patient.clone());
        let Some(profile) = inner.sockets.get_mut(&patient).and_then(|s| {
            s.place = Some(Place::InRoom(consult_id));
            s.profile.clone()
        }) else {
            return Err(ProtocolError::not_allowed("no patient is waiting"));
        };
        inner.send(
            &patient,
            ServerMessage::Admitted {
                participant_id: patient.clone(),
            },
        );
        for other in &others {
            if let Some(p) = inner.profile(other) {
                inner.send(&patient, ServerMessage::ParticipantJoined { participant: p });
            }
            inner.send(
                other,
                ServerMessage::ParticipantJoined {
                    participant: profile.clone(),
                },
            );
        }
        Ok(patient)
    }

    /// Leaves the waiting room or the call; the call hears `participant-left`.
    pub fn leave(&self, pid: &str) -> Option<Departure> {
        self.lock().unplace(pid)
    }

    /// Records a mute change and tells the others in the call.
    pub fn set_mute(&self, pid: &str, audio: bool, video: bool) -> Result<(), ProtocolError> {
        if !matches!(self.place(pid), Some(Place::InRoom(_))) {
            return Err(ProtocolError::not_in_room());
        }
        self.update_profile(pid, |p| {
            p.audio = audio;
            p.video = video;
        })
    }

    /// Records the round trip a participant measured before the call, in
    /// the waiting room too (the call's others see it when it is admitted),
    /// and tells the others in the call.
    pub fn set_link_rtt(&self, pid: &str, rtt_ms: u32) -> Result<(), ProtocolError> {
        self.update_profile(pid, |p| p.link_rtt_ms = Some(rtt_ms))
    }

    /// Changes a placed participant's profile; if it is in a call, the
    /// others there get `participant-updated`.
    fn update_profile(&self, pid: &str, change: impl FnOnce(&mut Participant)) -> Result<(), ProtocolError> {
        let mut inner = self.lock();
        let Some(socket) = inner.sockets.get_mut(pid) else {
            return Err(ProtocolError::not_in_room());
        };
        let (Some(place), Some(profile)) = (socket.place, socket.profile.as_mut()) else {
            return Err(ProtocolError::not_in_room());
        };
        change(profile);
        let participant = profile.clone();
        if let Place::InRoom(consult_id) = place {
            for other in inner.members(consult_id).iter().filter(|m| *m != pid) {
                inner.send(
                    other,
                    ServerMessage::ParticipantUpdated {
                        participant: participant.clone(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Sends `msg` to everyone in the call of `consult_id`.
    pub fn broadcast(&self, consult_id: i64, msg: &ServerMessage) {
        let inner = self.lock();
        for m in inner.members(consult_id) {
            inner.send(&m, msg.clone());
        }
    }

    /// Sends `msg` to one participant, if connected.
    pub fn send_to(&self, pid: &str, msg: ServerMessage) {
        self.lock().send(pid, msg);
    }

    /// Ends the consult's call: everyone in it and the waiting patient get
    /// `ended` and lose their place. Returns who had joined the relay.
    pub fn end(&self, consult_id: i64) -> Vec<String> {
        let mut inner = self.lock();
        let Some(room) = inner.rooms.remove(&consult_id) else {
            return Vec::new();
        };
        let mut in_relay = Vec::new();
        for pid in room.members.iter().chain(room.waiting.as_ref().map(|(p, _)| p)) {
            if let Some(s) = inner.sockets.get_mut(pid) {
                s.place = None;
                s.profile = None;
                if std::mem::take(&mut s.in_relay) {
                    in_relay.push(pid.clone());
                }
                s.deliver(ServerMessage::Ended);
            }
        }
        in_relay
    }

    /// Whether `pid` has joined the media relay; see [`Rooms::set_in_relay`].
    pub fn in_relay(&self, pid: &str) -> bool {
        self.lock().sockets.get(pid).is_some_and(|s| s.in_relay)
    }

    /// Records that `pid` joined (or, e.g. after ICE failed, left) the relay.
    /// Joining counts only while `pid` is still in a call; `false` means it
    /// no longer is, and the caller must leave the relay again.
    pub fn set_in_relay(&self, pid: &str, joined: bool) -> bool {
        let mut inner = self.lock();
        let Some(s) = inner.sockets.get_mut(pid) else {
            return !joined;
        };
        if joined && !matches!(s.place, Some(Place::InRoom(_))) {
            return false;
        }
        s.in_relay = joined;
        true
    }

    /// How `pid` is shown to the others, while placed.
    pub fn profile_of(&self, pid: &str) -> Option<Participant> {
        self.lock().profile(pid)
    }

    /// The role `pid` has in its call, while it is in one.
    pub fn role_of(&self, pid: &str) -> Option<ParticipantRole> {
        self.lock().profile(pid).map(|p| p.role)
    }

    /// Becomes `true` when the server shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Asks every socket to close (server shutdown).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    fn profile(pid: &str, role: ParticipantRole) -> Participant {
        Participant {
            participant_id: pid.to_string(),
            role,
            display_name: format!("name of {pid}"),
            audio: true,
            video: true,
            link_rtt_ms: None,
        }
    }

    fn drain(reg: &mut Registration) -> Vec<serde_json::Value> {
        std::iter::from_fn(|| reg.outbox.try_recv().ok())
            .map(|m| serde_json::to_value(m).unwrap())
            .collect()
    }

    fn types(msgs: &[serde_json::Value]) -> Vec<&str> {
        msgs.iter().map(|m| m["type"].as_str().unwrap()).collect()
    }

    #[test]
    fn waiting_admission_and_departure() {
        let rooms = Rooms::default();
        let mut doctor = rooms.register(None, String::from("test"));
        let mut patient = rooms.register(None, String::from("test"));
        let (d, p) = (doctor.participant_id.clone(), patient.participant_id.clone());

        let (others, waiting) = rooms.join(&d, 12, profile(&d, ParticipantRole::Specialist)).unwrap();
        assert!(others.is_empty() && waiting.is_none());
        assert!(rooms.set_link_rtt(&p, 640).is_err(), "not placed yet");
        rooms.wait(&p, 12, profile(&p, ParticipantRole::Patient)).unwrap();
        assert_eq!(rooms.place(&p), Some(Place::Waiting(12)));
        // The network check's round trip, from the waiting room: kept for
        // the admission, told to nobody yet.
        rooms.set_link_rtt(&p, 640).unwrap();
        assert!(rooms.set_mute(&p, true, true).is_err(), "mute is for the call");
        assert_eq!(types(&drain(&mut doctor)), ["patient-waiting"]);
        assert!(rooms.has_waiting(12));

        assert_eq!(rooms.admit(12).unwrap(), p);
        assert_eq!(rooms.place(&p), Some(Place::InRoom(12)));
        let to_patient = drain(&mut patient);
        assert_eq!(types(&to_patient), ["admitted", "participant-joined"]);
        assert_eq!(to_patient[1]["participant"]["participant_id"], d.as_str());
        let to_doctor = drain(&mut doctor);
        assert_eq!(types(&to_doctor), ["participant-joined"]);
        assert_eq!(to_doctor[0]["participant"]["link_rtt_ms"], 640);
        assert!(rooms.admit(12).is_err(), "nobody waits any more");

        rooms.set_mute(&p, false, true).unwrap();
        let update = drain(&mut doctor);
        assert_eq!(update[0]["participant"]["audio"], false);
        assert_eq!(update[0]["participant"]["link_rtt_ms"], 640, "kept");
        assert!(drain(&mut patient).is_empty(), "mute goes to the others only");
        rooms.set_link_rtt(&p, 700).unwrap();
        assert_eq!(drain(&mut doctor)[0]["participant"]["link_rtt_ms"], 700);
        assert!(drain(&mut patient).is_empty());

        assert!(rooms.set_in_relay(&p, true));
        assert!(rooms.unregister(&p), "it had joined the relay");
        assert_eq!(drain(&mut doctor)[0]["participant_id"], p.as_str());
    }

    #[test]
    fn end_empties_the_room_and_reports_relay_members() {
        let rooms = Rooms::default();
        let mut a = rooms.register(None, String::from("test"));
        let b = rooms.register(None, String::from("test"));
        let (pa, pb) = (a.participant_id.clone(), b.participant_id.clone());
        rooms.join(&pa, 1, profile(&pa, ParticipantRole::Staff)).unwrap();
        rooms.join(&pb, 1, profile(&pb, ParticipantRole::Specialist)).unwrap();
        assert!(rooms.set_in_relay(&pb, true));
        assert_eq!(rooms.end(1), vec![pb.clone()]);
        assert_eq!(rooms.place(&pa), None);
        assert_eq!(types(&drain(&mut a)), ["participant-joined", "ended"]);
        assert!(
            !rooms.set_in_relay(&pb, true),
            "out of the call: the relay join must be undone"
        );
    }

    #[test]
    fn a_room_takes_six_and_a_second_patient_socket_replaces_the_first() {
        let rooms = Rooms::default();
        let regs: Vec<Registration> = (0..7).map(|_| rooms.register(None, String::from("test"))).collect();
        for r in &regs[..MAX_PER_ROOM] {
            let pid = &r.participant_id;
            rooms.join(pid, 5, profile(pid, ParticipantRole::Staff)).unwrap();
        }
        let last = &regs[MAX_PER_ROOM].participant_id;
        let err = rooms.join(last, 5, profile(last, ParticipantRole::Staff)).unwrap_err();
        assert_eq!(err.code, super::super::protocol::ErrorCode::RoomFull);

        let first = rooms.register(None, String::from("test"));
        let second = rooms.register(None, String::from("test"));
        rooms
            .wait(
                &first.participant_id,
                9,
                profile(&first.participant_id, ParticipantRole::Patient),
            )
            .unwrap();
        rooms
            .wait(
                &second.participant_id,
                9,
                profile(&second.participant_id, ParticipantRole::Patient),
            )
            .unwrap();
        // The first socket is told to close; the second is the one waiting.
        assert!(first.kick.notified().now_or_never().is_some());
        rooms.unregister(&first.participant_id);
        assert!(rooms.has_waiting(9));
    }

    #[test]
    fn a_socket_that_cannot_keep_up_is_kicked() {
        let rooms = Rooms::default();
        let slow = rooms.register(None, String::from("test"));
        for _ in 0..=OUTBOX {
            rooms.send_to(&slow.participant_id, ServerMessage::Waiting);
        }
        assert!(slow.kick.notified().now_or_never().is_some());
    }

    #[test]
    fn a_dropped_call_socket_is_resumed_by_its_owner_with_its_token_only() {
        let rooms = Rooms::default();
        let doctor = rooms.register(None, "user:1".into());
        let old = rooms.register(None, "user:2".into());
        let (d, o) = (doctor.participant_id.clone(), old.participant_id.clone());
        rooms.join(&d, 7, profile(&d, ParticipantRole::Specialist)).unwrap();
        rooms.join(&o, 7, profile(&o, ParticipantRole::Staff)).unwrap();
        assert!(rooms.detach(&o), "in a call: kept for the grace period");

        let stranger = rooms.register(None, "user:3".into());
        assert!(rooms.resume(&stranger.participant_id, &o, &old.resume_token).is_err());
        let same = rooms.register(None, "user:2".into());
        assert!(rooms.resume(&same.participant_id, &o, "not-the-token").is_err());

        let mut back = rooms.register(None, "user:2".into());
        let others = rooms.resume(&back.participant_id, &o, &old.resume_token).unwrap();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].participant_id, d);
        assert_eq!(rooms.place(&o), Some(Place::InRoom(7)));
        assert_eq!(rooms.place(&back.participant_id), None, "the new id is forgotten");
        // Messages for the participant now reach the new socket.
        rooms.send_to(&o, ServerMessage::Waiting);
        assert!(back.outbox.try_recv().is_ok());
        // A resumed participant is no longer detached: expiry does nothing,
        // and the old token no longer works.
        assert!(!rooms.expire(&o));
        assert_eq!(rooms.place(&o), Some(Place::InRoom(7)));
        let again = rooms.register(None, "user:2".into());
        assert!(rooms.resume(&again.participant_id, &o, &old.resume_token).is_err());
    }

    #[test]
    fn an_unresumed_participant_leaves_when_its_grace_expires() {
        let rooms = Rooms::default();
        let mut doctor = rooms.register(None, "user:1".into());
        let nurse = rooms.register(None, "user:2".into());
        let (d, n) = (doctor.participant_id.clone(), nurse.participant_id.clone());
        rooms.join(&d, 7, profile(&d, ParticipantRole::Specialist)).unwrap();
        rooms.join(&n, 7, profile(&n, ParticipantRole::Staff)).unwrap();
        drain(&mut doctor);
        assert!(rooms.detach(&n));
        assert!(drain(&mut doctor).is_empty(), "nobody is told during the grace period");
        rooms.expire(&n);
        assert_eq!(drain(&mut doctor)[0]["participant_id"], n.as_str());
        assert_eq!(rooms.place(&n), None);
    }
}
