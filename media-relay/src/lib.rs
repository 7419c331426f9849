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
//! | [`udp`] | the tokio task, the socket, [`RelayHandle`] |
//! | [`engine`] | rooms, demultiplexing, forwarding between participants' `Rtc`s |
//! | `participant` | one peer's `Rtc`, its tracks, its renegotiation state |
//! | [`stun`] | read the ICE username of a STUN datagram, to route it |
//! | [`error`] | [`RelayError`], what the API can refuse |
//! | [`rtp`] | read the RTP header fields we need; wrap-around arithmetic |
//! | [`vp8`] | read the VP8 payload descriptor, spot keyframes, renumber pictures in place |
//! | [`layer`] | name simulcast layers (`Layer`, `LayerSet`) |
//! | [`rewrite`] | per subscriber and track: one continuous stream across layer switches |
//! | [`allocator`] | per subscriber: which layer of each video track fits the estimate, or pause |
//! | [`nack`] | per subscriber and track: answer NACKs from recent packets, throttled per RTT |
//! | [`keyframe`] | per publisher track: merge and throttle keyframe requests |
//!
//! # What flows today
//!
//! A participant joins a room (a consult, 2–6 people), offers its tracks and
//! gets an ICE-lite answer naming the relay's one UDP address. When a
//! participant's tracks appear, every other participant in the room gets a
//! send-only m-line per track (stream id = the publisher's name) through a
//! [`RelayEvent::Offer`]; a newcomer gets everyone's existing tracks the same
//! way, and a leaver's m-lines are stopped. Audio (Opus) and video (VP8) are
//! forwarded **frame by frame** (str0m's `Event::MediaData` → `Writer::write`),
//! so str0m does the per-leg packetizing, NACK/RTX, pacing and RTCP. A
//! subscriber's keyframe request (PLI/FIR) goes to the publisher, and a
//! newly opened video track asks the publisher for a keyframe.
//!
//! Anything from the network may be hostile: parsers return `Err` on
//! truncated or garbage input and are fuzzed with a seeded generator in the
//! tests; datagrams that match no participant are dropped and counted
//! ([`RelayStats`]); a panic here means a bug in the relay, never bad input.
//!
//! # Not wired yet (issue #3)
//!
//! The pure parts below are tested alone but not yet on the media path:
//!
//! * **Simulcast.** Only one encoding per track is forwarded: the first RID
//!   that arrives. Layer choice needs str0m's RTP mode (or raw packets) so
//!   that [`rewrite::VideoRewriter`] can renumber SSRC, sequence numbers,
//!   timestamps and VP8 picture ids across switches; map RIDs to [`Layer`]s.
//! * **Bandwidth.** Read str0m's estimate (`Event::EgressBitrateEstimate`),
//!   feed [`allocator::Allocator::update`], probe toward
//!   [`allocator::Allocator::desired_bps`], pause video below the floor and
//!   tell the client why through a new [`RelayEvent`].
//! * **Keyframes** are forwarded unthrottled; route them through
//!   [`keyframe::KeyframeRequests`]. **NACKs** are answered by str0m per leg;
//!   in RTP mode, [`nack::RetransmitCache`] takes over.
//! * RED for audio, `set preferences` on the handle, an explicit shutdown,
//!   a larger socket receive buffer, IPv6/multiple announced addresses, and
//!   interop tests against an independent stack (the `webrtc` crate bot):
//!   today's end-to-end tests use str0m on both sides.

mod adapt;
pub mod allocator;
pub mod engine;
pub mod error;
pub mod keyframe;
pub mod layer;
pub mod nack;
mod participant;
pub mod publish;
pub mod rate;
pub mod rewrite;
pub mod rtp;
pub mod stats;
pub mod stun;
pub mod udp;
pub mod vp8;

pub use allocator::PauseReason;
pub use engine::{LeaveReason, Relay, RelayConfig, RelayEvent, RelayStats};
pub use error::RelayError;
pub use layer::{Layer, LayerSet, MAX_LAYERS};
pub use stats::{ParticipantStats, VideoLayerStat};
pub use udp::{spawn, RelayEvents, RelayHandle, UdpConfig};

#[cfg(feature = "test-peer")]
pub mod test_peer;

#[cfg(test)]
mod testutil;
