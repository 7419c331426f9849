//! The codecs the relay negotiates with every peer, and why.
//!
//! * **Opus** with in-band FEC: a lost packet's audio rides, coarser, in
//!   the next one.
//! * **RED** (RFC 2198) folded onto Opus: each packet also carries the
//!   previous frame, so an isolated loss costs no audio at all. str0m unwraps
//!   a publisher's RED (recovering lost frames from the redundancy) before the
//!   relay sees frames, and wraps them again per subscriber, only toward
//!   subscribers whose answer kept RED; the others get plain Opus. So each
//!   leg is protected on its own (decision 0004).
//! * **DTX** (silence sent as almost nothing) is the sender's choice of how to
//!   encode; str0m 0.25 cannot advertise `usedtx=1` together with RED, so
//!   the web client turns it on for its own microphone (`js/call/peer.js`).
//! * **VP8** first (simulcast, what every browser sends), **H.264** accepted
//!   for a browser that insists; frames go to subscribers that negotiated
//!   the same codec.

use str0m::RtcConfig;

pub(crate) fn configure(config: RtcConfig) -> RtcConfig {
    config
        .clear_codecs()
        .enable_opus(true, true)
        .enable_vp8(true)
        .enable_h264(true)
}
