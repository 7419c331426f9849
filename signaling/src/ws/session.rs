//! One socket's life: greet, then read messages and enforce the room state
//! machine (join before offer; a patient offers only once admitted; only
//! staff or a specialist of the consult admits and ends), while writing what
//! the room and the relay queue for it and keeping the connection alive.
//! Every refusal is an `error` message; the socket stays open.
//!
//! Liveness: a ping every `ws_ping_every` (10 s); a socket silent for
//! `ws_idle_limit` (30 s: no pong, no message) is closed (see
//! [`crate::Config`]). A socket that closes cleanly (a close frame, `leave`,
//! server shutdown) leaves the relay and the room at once, and the room hears
//! `participant-left`. One that *drops* during a call (no close frame, or
//! silence) keeps its place for `ws_resume_grace`: a new socket of the same
//! person can `resume` it with the token from `hello`, without being
//! admitted again; after the grace period it leaves as above.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::time::Instant;

use super::chat::{self, Sender};
use super::protocol::{self, ClientMessage, ErrorCode, Participant, ParticipantRole, ProtocolError, ServerMessage};
use super::rooms::{Place, Registration};
use super::{Peer, PROTOCOL_VERSION};
use crate::api::consults::{self, Consult};
use crate::audit::Actor;
use crate::auth::{CurrentUser, Role};
use crate::clinical::status::ConsultStatus;
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::on_db;
use crate::state::AppState;

/// Who authenticated at the upgrade.
pub enum Identity {
    Staff(CurrentUser),
    /// A patient through their join link, for this consult.
    Patient {
        consult_id: i64,
    },
}

struct Session {
    state: AppState,
    identity: Identity,
    client: ClientInfo,
    pid: String,
    /// The consult's patient, for chat records and the audit log; set on join.
    patient_id: Option<i64>,
    /// How this participant is shown to others; set on join.
    display_name: String,
}

/// Serves one upgraded socket until it closes.
pub async fn run(mut socket: WebSocket, state: AppState, identity: Identity, client: ClientInfo) {
    let peer = match &identity {
        Identity::Staff(user) => Peer::Staff {
            user_id: user.id,
            role: user.role.as_str(),
        },
        Identity::Patient { consult_id } => Peer::Patient {
            consult_id: *consult_id,
        },
    };
    let user = match &identity {
        Identity::Staff(user) => Some(user.clone()),
        Identity::Patient { .. } => None,
    };
    let owner = match &identity {
        Identity::Staff(user) => format!("user:{}", user.id),
        Identity::Patient { consult_id } => format!("patient:{consult_id}"),
    };
    let registration = state.rooms.register(user, owner);
    let mut session = Session {
        pid: registration.participant_id.clone(),
        state,
        identity,
        client,
        patient_id: None,
        display_name: String::new(),
    };
    let hello = ServerMessage::Hello {
        version: PROTOCOL_VERSION,
        peer,
        participant_id: registration.participant_id.clone(),
        resume_token: registration.resume_token.clone(),
    };
    let ending = if send(&mut socket, &hello).await.is_ok() {
        session.serve(&mut socket, registration).await
    } else {
        Ending::Dropped
    };
    session.depart(ending).await;
}

/// How a socket ended, which decides whether its place waits for a `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// A close frame, or the server closing it: the participant is gone.
    Closed,
    /// The connection broke (no close frame, silence, too slow): the
    /// participant may come back.
    Dropped,
}

impl Session {
    async fn serve(&mut self, socket: &mut WebSocket, reg: Registration) -> Ending {
        let Registration {
            mut outbox,
            kick,
            mut shutdown,
            ..
        } = reg;
        let (ping_every, idle_limit) = (self.state.config.ws_ping_every, self.state.config.ws_idle_limit);
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut last_heard = Instant::now();
        if *shutdown.borrow() {
            close(socket, 1001, "the server is shutting down").await;
            return Ending::Closed;
        }
        loop {
            tokio::select! {
                frame = socket.recv() => {
                    let Some(Ok(frame)) = frame else { return Ending::Dropped };
                    last_heard = Instant::now();
                    let replies = match frame {
                        Message::Text(text) => self.handle_text(&text).await,
                        Message::Binary(_) => vec![ProtocolError::new(ErrorCode::Malformed, "binary frames are not accepted").into_message()],
                        Message::Close(_) => return Ending::Closed,
                        Message::Ping(_) | Message::Pong(_) => continue,
                    };
                    for reply in &replies {
                        if send(socket, reply).await.is_err() {
                            return Ending::Dropped;
                        }
                    }
                }
                Some(msg) = outbox.recv() => {
                    if send(socket, &msg).await.is_err() {
                        return Ending::Dropped;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= idle_limit {
                        close(socket, 1001, "no traffic").await;
                        return Ending::Dropped;
                    }
                    if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return Ending::Dropped;
                    }
                }
                _ = kick.notified() => {
                    close(socket, 1008, "replaced by a newer connection, or too slow").await;
                    return Ending::Dropped;
                }
                _ = shutdown.changed() => {
                    close(socket, 1001, "the server is shutting down").await;
                    return Ending::Closed;
                }
            }
        }
    }

    /// Out of the room and the relay, at once or, for a call socket that
    /// dropped, after the grace period unless it is resumed meanwhile.
    async fn depart(&self, ending: Ending) {
        if ending == Ending::Dropped && self.state.rooms.detach(&self.pid) {
            let (state, pid) = (self.state.clone(), self.pid.clone());
            let mut shutdown = state.rooms.shutdown_signal();
            tokio::spawn(async move {
                // A grace period is a real wait, not synchronisation; a
                // shutting-down server does not keep anyone waiting.
                tokio::select! {
                    _ = tokio::time::sleep(state.config.ws_resume_grace) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
                if state.rooms.expire(&pid) {
                    let _ = state.relay.leave(pid).await;
                }
            });
            return;
        }
        if self.state.rooms.unregister(&self.pid) {
            self.leave_relay(&self.pid).await;
        }
    }

    async fn leave_relay(&self, pid: &str) {
        // Already gone (e.g. ICE failed first) is fine.
        let _ = self.state.relay.leave(pid.to_string()).await;
    }

    async fn handle_text(&mut self, text: &str) -> Vec<ServerMessage> {
        let result = match protocol::parse(text) {
            Ok(msg) => self.handle(msg).await,
            Err(e) => Err(e),
        };
        result.unwrap_or_else(|e| vec![e.into_message()])
    }

    async fn handle(&mut self, msg: ClientMessage) -> Result<Vec<ServerMessage>, ProtocolError> {
        match msg {
            ClientMessage::Join { consult_id } => match &self.identity {
                Identity::Staff(user) => {
                    let consult_id = consult_id
                        .ok_or_else(|| ProtocolError::new(ErrorCode::Malformed, "join needs a consult_id"))?;
                    let user = user.clone();
                    self.join_staff(&user, consult_id).await
                }
                Identity::Patient { consult_id: own } => {
                    let own = *own;
                    if consult_id.is_some_and(|c| c != own) {
                        return Err(ProtocolError::not_allowed("your link is for another consult"));
                    }
                    self.join_patient(own).await
                }
            },
            ClientMessage::Admit {} => self.admit().await,
            ClientMessage::Offer { sdp } => self.offer(sdp).await,
            ClientMessage::Answer { sdp } => self.answer(sdp).await,
            ClientMessage::Mute { audio, video } => {
                self.state.rooms.set_mute(&self.pid, audio, video)?;
                Ok(vec![])
            }
            ClientMessage::Network { rtt_ms } => {
                self.state.rooms.set_link_rtt(&self.pid, rtt_ms)?;
                Ok(vec![])
            }
            ClientMessage::Chat { text } => self.chat(text).await,
            ClientMessage::Leave {} => {
                if let Some(departure) = self.state.rooms.leave(&self.pid) {
                    if departure.in_relay {
                        self.leave_relay(&self.pid).await;
                    }
                }
                Ok(vec![])
            }
            ClientMessage::End {} => self.end().await,
            ClientMessage::Resume {
                participant_id,
                token,
                restart_media,
            } => self.resume(participant_id, token, restart_media).await,
        }
    }

    async fn resume(
        &mut self,
        participant_id: String,
        resume_token: String,
        restart_media: bool,
    ) -> Result<Vec<ServerMessage>, ProtocolError> {
        if participant_id.len() > 32 || !crate::auth::token::is_well_formed(&resume_token) {
            return Err(ProtocolError::new(
                ErrorCode::Malformed,
                "resume needs a participant id and its token",
            ));
        }
        let others = self.state.rooms.resume(&self.pid, &participant_id, &resume_token)?;
        self.pid = participant_id;
        let consult_id = self.in_room()?;
        let consult = consults::load(&self.state, consult_id).await.map_err(from_api)?;
        self.patient_id = Some(consult.patient_id);
        self.display_name = self
            .state
            .rooms
            .profile_of(&self.pid)
            .map(|p| p.display_name)
            .unwrap_or_default();
        if restart_media && self.state.rooms.set_in_relay(&self.pid, false) {
            // The client lost its peer connection; its next offer joins afresh.
            self.leave_relay(&self.pid).await;
        }
        Ok(vec![ServerMessage::Resumed {
            participant_id: self.pid.clone(),
            participants: others,
        }])
    }

    fn staff(&self) -> Result<&CurrentUser, ProtocolError> {
        match &self.identity {
            Identity::Staff(user) if matches!(user.role, Role::Specialist | Role::Staff) => Ok(user),
            _ => Err(ProtocolError::not_allowed(
                "only the consult's specialist or clinic staff may do this",
            )),
        }
    }

    fn actor(&self) -> Actor {
        match &self.identity {
            Identity::Staff(user) => user.actor(),
            Identity::Patient { .. } => Actor::Patient {
                id: self.patient_id.unwrap_or_default(),
            },
        }
    }

    /// The consult of the call this socket is in.
    fn in_room(&self) -> Result<i64, ProtocolError> {
        match self.state.rooms.place(&self.pid) {
            Some(Place::InRoom(consult_id)) => Ok(consult_id),
            Some(Place::Waiting(_)) => Err(ProtocolError::not_allowed("wait until you are admitted")),
            None => Err(ProtocolError::not_in_room()),
        }
    }

    async fn join_staff(&mut self, user: &CurrentUser, consult_id: i64) -> Result<Vec<ServerMessage>, ProtocolError> {
        self.staff()?;
        if self.state.rooms.place(&self.pid).is_some() {
            return Err(ProtocolError::not_allowed("already in a room; leave first"));
        }
        let consult = consults::load_visible(&self.state, user, consult_id)
            .await
            .map_err(from_api)?;
        if consult.status().map_err(from_api)?.is_final() {
            return Err(ProtocolError::new(ErrorCode::IllegalTransition, "this consult is over"));
        }
        let role = match user.role {
            Role::Specialist => ParticipantRole::Specialist,
            _ => ParticipantRole::Staff,
        };
        self.state
            .audit
            .on_patient(
                &user.actor(),
                &self.client,
                "consult.join",
                consult.patient_id,
                "consult",
                consult.id,
            )
            .await
            .map_err(|e| from_api(e.into()))?;
        self.patient_id = Some(consult.patient_id);
        self.display_name = user.full_name.clone();
        let (others, waiting) = self.state.rooms.join(&self.pid, consult_id, self.profile(role))?;
        let mut replies = vec![ServerMessage::Joined {
            participant_id: self.pid.clone(),
            participants: others,
        }];
        if let Some(patient_name) = waiting {
            replies.push(ServerMessage::PatientWaiting {
                consult_id,
                patient_name,
            });
        }
        Ok(replies)
    }

    async fn join_patient(&mut self, consult_id: i64) -> Result<Vec<ServerMessage>, ProtocolError> {
        if self.state.rooms.place(&self.pid).is_some() {
            return Err(ProtocolError::not_allowed("already waiting or in the room"));
        }
        let consult = consults::load(&self.state, consult_id).await.map_err(from_api)?;
        self.patient_id = Some(consult.patient_id);
        match consult.status().map_err(from_api)? {
            ConsultStatus::Scheduled => self.transition(&consult, ConsultStatus::Waiting).await?,
            // Back after a dropped connection: wait to be admitted again.
            ConsultStatus::Waiting | ConsultStatus::InCall => {}
            other => {
                return Err(ProtocolError::new(
                    ErrorCode::IllegalTransition,
                    format!("this consult is {}", other.as_str()),
                ))
            }
        }
        let given_names: String = on_db!(&self.state.db, pool => {
            sqlx::query_scalar("SELECT given_names FROM patients WHERE id = $1")
                .bind(consult.patient_id)
                .fetch_one(pool)
                .await
                .map_err(|e| from_api(e.into()))?
        });
        self.display_name = given_names.clone();
        let outside = self
            .state
            .rooms
            .wait(&self.pid, consult_id, self.profile(ParticipantRole::Patient))?;
        // Staff sockets not in the room hear of the patient if the consult is
        // theirs; checked off this socket's path (one query per socket).
        let state = self.state.clone();
        tokio::spawn(async move {
            for (pid, user) in outside {
                if matches!(user.role, Role::Specialist | Role::Staff)
                    && consults::load_visible(&state, &user, consult_id).await.is_ok()
                {
                    state.rooms.send_to(
                        &pid,
                        ServerMessage::PatientWaiting {
                            consult_id,
                            patient_name: given_names.clone(),
                        },
                    );
                }
            }
        });
        Ok(vec![ServerMessage::Waiting])
    }

    async fn admit(&mut self) -> Result<Vec<ServerMessage>, ProtocolError> {
        self.staff()?;
        let consult_id = self.in_room()?;
        if !self.state.rooms.has_waiting(consult_id) {
            return Err(ProtocolError::not_allowed("no patient is waiting"));
        }
        let consult = consults::load(&self.state, consult_id).await.map_err(from_api)?;
        match consult.status().map_err(from_api)? {
            ConsultStatus::Waiting => self.transition(&consult, ConsultStatus::InCall).await?,
            // Re-admitting a patient whose connection dropped.
            ConsultStatus::InCall => {}
            other => {
                return Err(ProtocolError::new(
                    ErrorCode::IllegalTransition,
                    format!("a {} consult cannot admit", other.as_str()),
                ))
            }
        }
        self.state.rooms.admit(consult_id)?;
        Ok(vec![])
    }

    async fn offer(&mut self, sdp: String) -> Result<Vec<ServerMessage>, ProtocolError> {
        let consult_id = self.in_room()?;
        if !self.state.rooms.in_relay(&self.pid) {
            let via = match self.identity {
                Identity::Patient { .. } => self.state.config.media_patient_via,
                Identity::Staff(_) => None,
            };
            match self
                .state
                .relay
                .join_via(consult_id.to_string(), self.pid.clone(), via)
                .await
            {
                Ok(()) | Err(media_relay::RelayError::AlreadyJoined(_)) => {}
                Err(e) => return Err(from_relay(e)),
            }
            if !self.state.rooms.set_in_relay(&self.pid, true) {
                // The call ended or we were removed meanwhile.
                self.leave_relay(&self.pid).await;
                return Err(ProtocolError::not_in_room());
            }
        }
        let answer = self
            .state
            .relay
            .accept_offer(self.pid.clone(), sdp)
            .await
            .map_err(from_relay)?;
        Ok(vec![ServerMessage::Answer { sdp: answer }])
    }

    async fn answer(&mut self, sdp: String) -> Result<Vec<ServerMessage>, ProtocolError> {
        self.in_room()?;
        if !self.state.rooms.in_relay(&self.pid) {
            return Err(ProtocolError::new(ErrorCode::BadSdp, "no offer is outstanding"));
        }
        self.state
            .relay
            .accept_answer(self.pid.clone(), sdp)
            .await
            .map_err(from_relay)?;
        Ok(vec![])
    }

    async fn chat(&mut self, text: String) -> Result<Vec<ServerMessage>, ProtocolError> {
        chat::check(&text)?;
        let consult_id = self.in_room()?;
        let patient_id = self.patient_id.ok_or_else(ProtocolError::not_in_room)?;
        let sender = match &self.identity {
            Identity::Staff(user) => Sender::User {
                id: user.id,
                role: user.role.as_str(),
            },
            Identity::Patient { .. } => Sender::Patient { id: patient_id },
        };
        let at = chat::store(
            &self.state,
            &self.client,
            consult_id,
            patient_id,
            &sender,
            &self.display_name,
            &text,
        )
        .await
        .map_err(from_api)?;
        self.state.rooms.broadcast(
            consult_id,
            &ServerMessage::Chat {
                from: self.pid.clone(),
                display_name: self.display_name.clone(),
                text,
                at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            },
        );
        Ok(vec![])
    }

    async fn end(&mut self) -> Result<Vec<ServerMessage>, ProtocolError> {
        self.staff()?;
        let consult_id = self.in_room()?;
        let consult = consults::load(&self.state, consult_id).await.map_err(from_api)?;
        self.transition(&consult, ConsultStatus::Completed).await?;
        for pid in self.state.rooms.end(consult_id) {
            self.leave_relay(&pid).await;
        }
        Ok(vec![])
    }

    /// A status change through the consult status machine, audited like the
    /// API's `POST /api/consults/{id}/status`.
    async fn transition(&self, consult: &Consult, to: ConsultStatus) -> Result<(), ProtocolError> {
        consults::transition(&self.state, consult, to, None)
            .await
            .map_err(from_api)?;
        self.state
            .audit
            .on_patient(
                &self.actor(),
                &self.client,
                "consult.status",
                consult.patient_id,
                "consult",
                consult.id,
            )
            .await
            .map_err(|e| from_api(e.into()))?;
        Ok(())
    }

    fn profile(&self, role: ParticipantRole) -> Participant {
        Participant {
            participant_id: self.pid.clone(),
            role,
            display_name: self.display_name.clone(),
            audio: true,
            video: true,
            link_rtt_ms: None,
        }
    }
}

fn from_api(e: ApiError) -> ProtocolError {
    match e {
        ApiError::NotFound(_) | ApiError::Forbidden(_) => {
            ProtocolError::not_allowed("no such consult, or not one you may join")
        }
        ApiError::Conflict { message, .. } => ProtocolError::new(ErrorCode::IllegalTransition, message),
        ApiError::Gone { message, .. } => ProtocolError::not_allowed(message),
        other => {
            tracing::error!(error = ?other, "signaling request failed");
            ProtocolError::new(ErrorCode::Internal, "internal error; try again")
        }
    }
}

fn from_relay(e: media_relay::RelayError) -> ProtocolError {
    use media_relay::RelayError as E;
    match e {
        E::RoomFull { max, .. } => ProtocolError::new(
            ErrorCode::RoomFull,
            format!("a consult takes at most {max} participants"),
        ),
        E::BadSdp(m) | E::Rejected(m) => ProtocolError::new(ErrorCode::BadSdp, m),
        E::NoPendingOffer(_) => ProtocolError::new(ErrorCode::BadSdp, "no offer is outstanding"),
        E::UnknownParticipant(_) => ProtocolError::not_in_room(),
        other => {
            tracing::error!(error = %other, "media relay failed");
            ProtocolError::new(ErrorCode::Internal, "the media relay is unavailable")
        }
    }
}

async fn send(socket: &mut WebSocket, msg: &ServerMessage) -> Result<(), axum::Error> {
    // Serialising these plain structs cannot fail.
    let text = serde_json::to_string(msg).unwrap_or_default();
    socket.send(Message::Text(text.into())).await
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}
