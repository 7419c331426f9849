//! Cerca's SFU engine: routes each publisher's audio and simulcast video to
//! every subscriber, choosing per subscriber the video layer its link can
//! carry and always keeping audio alive.
//!
//! # The model
//!
//! Everything in this crate so far is **pure**: no sockets, no clock, no
//! threads, no tokio. Each part is a plain struct driven by `&mut self` calls
//! that take the current time as `now: Instant` and return their decision as
//! a value, in the style of str0m. Tests therefore run on a simulated clock
//! with synthetic packets, and ten seconds of call simulate in microseconds.
//!
//! | module | one job |
//! |---|---|
//! | [`rtp`] | read the RTP header fields we need; wrap-around arithmetic |
//! | [`vp8`] | read the VP8 payload descriptor, spot keyframes, renumber pictures in place |
//! | [`layer`] | name simulcast layers (`Layer`, `LayerSet`) |
//! | [`rewrite`] | per subscriber and track: one continuous stream across layer switches |
//! | [`allocator`] | per subscriber: which layer of each video track fits the estimate, or pause |
//! | [`nack`] | per subscriber and track: answer NACKs from recent packets, throttled per RTT |
//! | [`keyframe`] | per publisher track: merge and throttle keyframe requests |
//!
//! A media packet from a publisher goes: parse ([`rtp::RtpHeader`],
//! [`vp8::Vp8Descriptor`]) → for each subscriber, [`rewrite::VideoRewriter`]
//! decides `Forward { seq, timestamp, ssrc, picture_id, tl0picidx }` or
//! `Drop(reason)` → the forwarded copy is patched, sent, and kept in that
//! subscriber's [`nack::RetransmitCache`].
//!
//! Control goes the other way: a new bandwidth estimate feeds
//! [`allocator::Allocator::update`], whose targets go to each rewriter's
//! `set_target`; a rewriter waiting for a keyframe (`awaiting_keyframe`)
//! asks [`keyframe::KeyframeRequests`] whether to send a PLI now;
//! [`allocator::wanted_layers`] over all subscribers says which layers a
//! publisher may stop encoding. Parts that wait (`Allocator`,
//! `KeyframeRequests`) expose `poll_timeout()`; the caller wakes them then.
//!
//! Anything from the network may be hostile: parsers return `Err` on
//! truncated or garbage input and are fuzzed with a seeded generator in the
//! tests; a panic here means a bug in the relay, never bad input.
//!
//! # Still to come: the I/O layer
//!
//! A thin module will own one `str0m::Rtc` per participant on one shared UDP
//! socket (demultiplexed by ICE username, then address), run the tokio task
//! and the timer (the soonest of every part's `poll_timeout`), map RIDs/SSRCs
//! to [`Layer`]s, measure each layer's bitrate, read str0m's bandwidth
//! estimate and probe toward [`allocator::Allocator::desired_bps`], write the
//! rewritten packets with str0m's RTP-mode API, turn RTCP NACK/PLI into calls
//! here, and tell clients through signalling why their video is paused.

pub mod allocator;
pub mod keyframe;
pub mod layer;
pub mod nack;
pub mod rewrite;
pub mod rtp;
pub mod vp8;

pub use layer::{Layer, LayerSet, MAX_LAYERS};

#[cfg(test)]
mod testutil;
