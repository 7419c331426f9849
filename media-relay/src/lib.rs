//! Cerca's SFU engine: routes each publisher's audio and simulcast video to
//! every subscriber, choosing per subscriber the video layer its link can
//! carry and always keeping audio alive.
//!
//! # The model
//!
//! Two layers, str0m-style:
//!
//! * **Pure parts and a sans-I/O core.** No sockets, no clock, no tokio: each
//!   part is a plain struct driven by `&mut self` calls that take `now` and
//!   return their decision as a value. Tests run them on a simulated clock
//!   with synthetic packets. The core, [`engine::Relay`], owns one
//!   `str0m::Rtc` per participant and the rooms, and is driven by
//!   `handle_input(now, Input)` / `poll_transmit()` / `poll_event()` /
//!   `poll_timeout()`.
//! * **One thin I/O module**, [`udp`]: a tokio task with the one UDP socket,
//!   and the [`RelayHandle`] the signaling layer calls (`join`,
//!   `accept_offer`, `accept_answer`, `leave`) plus a channel of
//!   [`RelayEvent`]s (re-offers to carry to a client, connected, left).
//!
//! | module | one job |
//! |---|---|
//! | [`udp`] | the tokio task, the UDP socket, [`RelayHandle`] |
//! | [`tcp`] | passive ICE-TCP on the same port: RFC 4571 framing, one reader and writer per connection |
//! | [`engine`] | rooms, demultiplexing, forwarding between participants' `Rtc`s |
//! | `participant` | one peer's `Rtc`, its tracks, its renegotiation state |
//! | `adapt` | the periodic pass: allocate per subscriber, probe, pause, tell publishers |
//! | [`probe`] | when to ask for a bandwidth probe toward a subscriber whose next layer does not fit yet |
//! | [`publish`] | one published video: RID → layer, measured rate per layer, keyframe throttle |
//! | [`rate`] | a layer's incoming bitrate, measured |
//! | `packet_flow` | whether a layer still receives media: its newest packet's RTP time, read each pass |
//! | [`stats`] | per-participant quality figures ([`ParticipantStats`]) |
//! | `codecs` | what every peer is offered: Opus with FEC and RED, VP8, H.264 |
//! | [`stun`] | read the ICE username of a STUN datagram, to route it |
//! | [`error`] | [`RelayError`], what the API can refuse |
//! | [`rtp`] | read the RTP header fields we need; wrap-around arithmetic |
//! | [`vp8`] | read the VP8 payload descriptor, spot keyframes, renumber pictures in place |
//! | `vp8_packetize` | cut a forwarded VP8 frame into packets with its picture id and temporal layer, and number them |
//! | [`layer`] | name simulcast layers (`Layer`, `LayerSet`) |
//! | [`rewrite`] | per subscriber and track: one continuous stream across layer switches |
//! | `temporal_chain` | per subscriber and track: which frames still decode after a frame is lost for good |
//! | [`allocator`] | per subscriber: which layer of each video track fits the estimate, or pause |
//! | `outage` | a participant's link going silent and coming back: hold, then restart, the estimate |
//! | `nack_pause` | which layers of a published video the relay NACKs: none just after an outage, only the lowest on a congested uplink |
//! | [`keyframe`] | per publisher track: merge keyframe requests, at most one per layer per round trip and 300 ms (500 ms at least) |
//!
//! # What flows
//!
//! A participant joins a room (a consult, 2–6 people), offers its tracks and
//! gets an ICE-lite answer naming the relay's one UDP address (or, for link
//! emulation, another address given to [`Relay::join_via`]). When a
//! participant's tracks appear, every other participant in the room gets a
//! send-only m-line per track (stream id = the publisher's name) through a
//! [`RelayEvent::Offer`]; a newcomer gets everyone's existing tracks the same
//! way, and a leaver's m-lines are stopped. Audio (Opus) and video (VP8) are
//! forwarded **frame by frame**: str0m hands each publisher's frames over
//! (`Event::MediaData`) and does the per-leg NACK/RTX, pacing, TWCC and RTCP
//! (decision 0003 in `docs/decisions/`). Audio and H.264 are written with
//! str0m's `Writer::write`; VP8 frames are packetized by the relay itself
//! (`vp8_packetize`, decision 0019) and written with str0m's `write_rtp`, so
//! their picture ids and temporal layers reach the subscriber.
//!
//! Video may arrive as up to three simulcast layers (RIDs listed lowest
//! first). Five times a second, per subscriber, the allocator picks each
//! received video's layer from str0m's TWCC estimate of that subscriber's
//! link, audio served first; the track's [`rewrite::VideoRewriter`] switches
//! on the target layer's next keyframe (asked for, throttled) and keeps the
//! RTP timestamps continuous. Below the floor a video is paused toward that
//! subscriber ([`RelayEvent::VideoPaused`]) and resumes by itself; str0m's
//! BWE probes toward what the subscriber would take, padding just enough to
//! test the next step, and asks for short probes while the next layer does
//! not fit ([`probe`]); a probe that raised the estimate lets the allocator
//! upgrade without its hold time. Publishers hear which layers nobody takes
//! ([`RelayEvent::LayersWanted`]). A subscriber's PLI becomes a throttled
//! keyframe request for the layer it is getting.
//!
//! Anything from the network may be hostile: parsers return `Err` on
//! truncated or garbage input and are fuzzed with a seeded generator in the
//! tests; datagrams that match no participant are dropped and counted
//! ([`RelayStats`]); a panic here means a bug in the relay, never bad input.
//!
//! Audio is Opus with RED: str0m unwraps a publisher's redundancy (recovering
//! lost frames) and re-wraps per subscriber that negotiated RED (decision
//! 0004). Networks that block UDP reach the relay over passive ICE-TCP on the
//! same port number ([`tcp`]); its frames enter the core like datagrams.
//!
//! # Not built yet (issue #3)
//!
//! * IPv6 or several announced addresses, a larger socket receive buffer.
//! * Priorities (active speaker, screen share) and per-subscriber maximum
//!   layers from the rendered size: the allocator supports both, nothing
//!   feeds them yet.

mod adapt;
pub mod allocator;
mod codecs;
pub mod engine;
pub mod error;
mod held_estimate;
pub mod keyframe;
pub mod layer;
mod nack_pause;
mod outage;
mod packet_flow;
mod participant;
pub mod probe;
pub mod publish;
pub mod rate;
pub mod rewrite;
pub mod rtp;
mod send_queue;
pub mod stats;
pub mod stun;
pub mod tcp;
mod temporal_chain;
pub mod udp;
pub mod vp8;
mod vp8_packetize;

pub use allocator::PauseReason;
pub use engine::{LeaveReason, Relay, RelayConfig, RelayEvent, RelayStats};
pub use error::RelayError;
pub use layer::{Layer, LayerSet, MAX_LAYERS};
pub use stats::{ParticipantStats, VideoLayerStat};
/// The transport of a packet: `Udp`, or `Tcp` for ICE-TCP.
pub use str0m::net::Protocol;
pub use udp::{spawn, RelayEvents, RelayHandle, UdpConfig};

#[cfg(feature = "test-peer")]
pub mod test_call;
#[cfg(feature = "test-peer")]
pub mod test_peer;

#[cfg(test)]
mod testutil;
