//! Every RTCP report that asks for something goes out twice over UDP: once,
//! and again [`ECHO_AFTER`] later (decision 0035).
//!
//! A NACK lost on its way to a publisher costs its lost packet a whole extra
//! round trip: str0m asks again only a round trip after it asked first. On a
//! satellite link that is 0.6-0.7 s more, on top of the first round trip,
//! during which the relay holds every later frame of the layer, and the
//! subscriber's picture freezes. A second copy a moment later gets through
//! whenever only the first was lost; the receiver's SRTCP replay check drops
//! it when both arrive. The same holds for a keyframe request (PLI) and for
//! the sender and receiver reports the round trip is measured from.
//!
//! Not the transport-wide congestion reports (TWCC), which are most of the
//! RTCP the relay sends and a new one soon replaces: str0m orders a
//! datagram's reports SR, RR, SDES, NACK, PLI, FIR, TWCC, REMB, …, so a
//! datagram that starts with a TWCC report carries nothing else asked for.
//! The first report's header is in the clear in SRTCP (RFC 3711 §3.4).
//!
//! Over ICE-TCP nothing is lost, so nothing is echoed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use str0m::net::Protocol;

use crate::engine::Transmit;

/// How long after the first copy the second goes: apart, so one burst of
/// loss on a radio link is less likely to take both.
pub const ECHO_AFTER: Duration = Duration::from_millis(20);

/// RTCP payload types: transport-layer feedback (RFC 4585), whose format 15
/// is the transport-wide congestion report.
const RTPFB: u8 = 205;
const TWCC_FORMAT: u8 = 15;

/// Whether `datagram` is RTCP (RFC 7983's first byte for RTP and RTCP, RFC
/// 5761's payload type range) that does not start with a TWCC report.
pub fn worth_echoing(datagram: &[u8]) -> bool {
    let [first, second, ..] = *datagram else {
        return false;
    };
    let rtp_or_rtcp = (128..=191).contains(&first);
    let rtcp = (192..=223).contains(&second);
    let twcc = second == RTPFB && first & 0x1f == TWCC_FORMAT;
    rtp_or_rtcp && rtcp && !twcc
}

/// Second copies waiting for their time. One delay for all, so they are due
/// in the order they were noted.
#[derive(Debug, Default)]
pub struct Echoes {
    due: VecDeque<(Instant, Transmit)>,
}

impl Echoes {
    /// Keeps a second copy of `sent`, sent at `now`, if it is worth one.
    pub fn note(&mut self, now: Instant, sent: &Transmit) {
        if sent.proto == Protocol::Udp && worth_echoing(&sent.contents) {
            self.due.push_back((now + ECHO_AFTER, sent.clone()));
        }
    }

    /// When the next second copy is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.front().map(|&(at, _)| at)
    }

    /// The next second copy due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Transmit> {
        if self.next_due()? > now {
            return None;
        }
        self.due.pop_front().map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmit(proto: Protocol, contents: &[u8]) -> Transmit {
        Transmit {
            proto,
            destination: "127.0.0.1:5000".parse().unwrap(),
            contents: contents.to_vec(),
        }
    }

    /// An RTCP header: version 2, `count_or_format`, payload type `pt`.
    fn rtcp(count_or_format: u8, pt: u8) -> Vec<u8> {
        vec![0x80 | count_or_format, pt, 0, 7, 1, 2, 3, 4, 9, 9, 9, 9]
    }

    #[test]
    fn reports_that_ask_for_something_are_echoed() {
        for (what, datagram) in [
            ("a sender report", rtcp(1, 200)),
            ("a receiver report", rtcp(1, 201)),
            ("a NACK", rtcp(1, RTPFB)),
            ("a PLI", rtcp(1, 206)),
        ] {
            assert!(worth_echoing(&datagram), "{what}");
        }
    }

    #[test]
    fn congestion_reports_media_and_handshakes_are_not() {
        for (what, datagram) in [
            ("a TWCC report", rtcp(TWCC_FORMAT, RTPFB)),
            // VP8 at payload type 96, marker bit set: 0x80 | 96 = 224.
            ("an RTP packet", vec![0x80, 224, 0, 1]),
            ("an RTP packet without its marker", vec![0x80, 96, 0, 1]),
            ("a STUN request", vec![0x00, 0x01, 0x00, 0x00]),
            ("a DTLS record", vec![22, 0xfe, 0xfd, 0]),
            ("one byte", vec![0x80]),
            ("nothing", vec![]),
        ] {
            assert!(!worth_echoing(&datagram), "{what}");
        }
    }

    #[test]
    fn a_second_copy_goes_once_its_time_comes_in_order() {
        let t0 = Instant::now();
        let mut echoes = Echoes::default();
        let nack = transmit(Protocol::Udp, &rtcp(1, RTPFB));
        let pli = transmit(Protocol::Udp, &rtcp(1, 206));
        echoes.note(t0, &nack);
        echoes.note(
            t0 + Duration::from_millis(5),
            &transmit(Protocol::Udp, &rtcp(TWCC_FORMAT, RTPFB)),
        );
        echoes.note(t0 + Duration::from_millis(5), &pli);
        assert_eq!(echoes.next_due(), Some(t0 + ECHO_AFTER));
        assert_eq!(echoes.pop_due(t0 + ECHO_AFTER - Duration::from_millis(1)), None);
        assert_eq!(echoes.pop_due(t0 + ECHO_AFTER), Some(nack));
        assert_eq!(echoes.pop_due(t0 + ECHO_AFTER), None, "the PLI's copy is not due yet");
        assert_eq!(echoes.pop_due(t0 + ECHO_AFTER + Duration::from_millis(5)), Some(pli));
        assert_eq!(echoes.next_due(), None, "the TWCC report has no second copy");
    }

    #[test]
    fn nothing_is_echoed_over_tcp() {
        let mut echoes = Echoes::default();
        echoes.note(Instant::now(), &transmit(Protocol::Tcp, &rtcp(1, RTPFB)));
        assert_eq!(echoes.next_due(), None);
    }
}
