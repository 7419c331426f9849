//! User-space link emulation for Cerca's tests and benchmarks: the networks
//! rural patients are on (a slow 3G cell, satellite delay, an EDGE link, a
//! dropout), put between a participant and the relay's UDP port, because
//! kernel `netem` is not available where the tests run.
//!
//! | module | one job |
//! |---|---|
//! | [`shaper`] | one direction of a link, sans I/O: rate, queue, delay, jitter, loss, bursts, outage |
//! | [`proxy`] | a UDP proxy with a shaper per direction, changeable while running |
//! | [`profile`] | the named rural networks (`profiles.toml`) as impairments over time |

pub mod profile;
pub mod proxy;
pub mod shaper;

pub use profile::Profile;
pub use proxy::LinkProxy;
pub use shaper::{Impairment, Shaper, ShaperStats};
