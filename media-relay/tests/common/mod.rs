//! Test harness: real WebRTC peers ([`media_relay::test_peer`]) on real UDP
//! sockets on 127.0.0.1, talking to a relay through
//! [`media_relay::test_call::Call`], optionally across an emulated link.
//!
//! The peers are str0m itself in normal (non-lite, controlling) mode. That
//! checks the relay's I/O, demultiplexing, renegotiation and forwarding end to
//! end, but both ends share one WebRTC implementation: these are **not** yet
//! the independent-stack interop tests (the `webrtc` crate bot comes later).

// Only the adaptation tests shape links; each test binary compiles this module.
#[allow(unused_imports)]
pub use link_emulator::{Impairment, LinkProxy};
pub use media_relay::test_call::*;
pub use media_relay::test_peer::*;
