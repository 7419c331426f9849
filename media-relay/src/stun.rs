//! Just enough STUN to route a datagram to its participant before str0m
//! sees it: is this STUN, and which of *our* ICE usernames does it name?
//!
//! Why our own reader: all participants share one UDP port, and the first
//! packet from a new peer comes from an address we have never seen. ICE puts
//! `<relay ufrag>:<peer ufrag>` in the USERNAME of every binding request, and
//! each participant's `Rtc` has its own relay ufrag, so one map lookup finds
//! the owner instead of asking every `Rtc` in turn. str0m still checks the
//! message integrity (the password) afterwards; this only picks the candidate.
//! Everything here reads untrusted bytes and returns `None` on anything odd.

/// STUN's magic cookie (RFC 5389 §6), at bytes 4..8 of every message.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const HEADER_LEN: usize = 20;
const ATTR_USERNAME: u16 = 0x0006;

/// Whether the first byte falls in STUN's range of the RFC 7983 demultiplexing
/// scheme (0..=3); DTLS, RTP and RTCP use other ranges on the same port.
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| *b <= 3)
}

/// The relay-side ufrag named by a STUN message's USERNAME attribute (the part
/// before the colon), or `None` if the datagram is not well-formed STUN or has
/// no such attribute.
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    if datagram.len() < HEADER_LEN || !is_stun(datagram) || datagram[4..8] != MAGIC_COOKIE {
        return None;
    }
    let body_len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let mut rest = datagram.get(HEADER_LEN..HEADER_LEN + body_len)?;
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        let value = rest.get(4..4 + len)?;
        if kind == ATTR_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split_once(':').map(|(ours, _)| ours);
        }
        // Attributes are padded to a multiple of four bytes.
        let padded = (len + 3) & !3;
        rest = rest.get(4 + padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, value) in attrs {
            body.extend_from_slice(&kind.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            body.resize((body.len() + 3) & !3, 0);
        }
        let mut msg = vec![0x00, 0x01];
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&MAGIC_COOKIE);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn finds_our_ufrag_after_other_attributes() {
        let msg = binding_request(&[(0x0024, &[0, 0, 0, 1]), (ATTR_USERNAME, b"relayA:peerB")]);
        assert_eq!(local_ufrag(&msg), Some("relayA"));
    }

    #[test]
    fn odd_length_attribute_is_skipped_with_its_padding() {
        let msg = binding_request(&[(0x8022, b"abc"), (ATTR_USERNAME, b"x:y")]);
        assert_eq!(local_ufrag(&msg), Some("x"));
    }

    #[test]
    fn rejects_what_is_not_a_usable_binding_request() {
        let good = binding_request(&[(ATTR_USERNAME, b"relayA:peerB")]);
        // Every truncation of a good message is refused or still parses its prefix safely.
        for n in 0..good.len() {
            assert_eq!(local_ufrag(&good[..n]), None, "truncated to {n}");
        }
        let mut bad_cookie = good.clone();
        bad_cookie[4] = 0;
        assert_eq!(local_ufrag(&bad_cookie), None);
        assert_eq!(local_ufrag(&binding_request(&[(ATTR_USERNAME, b"nocolon")])), None);
        assert_eq!(local_ufrag(&binding_request(&[(ATTR_USERNAME, &[0xff, b':'])])), None);
        assert_eq!(local_ufrag(&[0x80; 40]), None);
    }

    #[test]
    fn seeded_garbage_never_panics() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            let len = (state % 80) as usize;
            let mut buf = binding_request(&[(ATTR_USERNAME, b"relayA:peerB")]);
            buf.truncate(len.max(4));
            for b in buf.iter_mut().skip(2) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state & 3 == 0 {
                    *b = state as u8;
                }
            }
            let _ = local_ufrag(&buf);
        }
    }
}
