//! Passive ICE-TCP (RFC 6544) on the relay's port number, for clinics whose
//! networks block UDP: browsers connect to it with their `tcptype active`
//! candidates, and the same STUN, DTLS and SRTP packets travel over the
//! stream, each framed by a 16-bit big-endian length (RFC 4571).
//!
//! This module only turns connections into framed packets and back; the
//! relay core routes them exactly as datagrams (by ICE username, then by the
//! connection's address). Each connection is a reader task and a writer task:
//!
//! * the reader hands whole frames to the relay task over a bounded channel
//!   (when the relay is busy the connection simply stops being read, which
//!   TCP turns into backpressure on the sender);
//! * the writer takes packets from a bounded queue the relay fills with
//!   `try_send`: when a connection cannot keep up its packets are dropped, as
//!   a congested UDP path would, and the relay never waits on it.
//!
//! Hostile input: a zero or oversized length, a peer that sends nothing
//! within [`FIRST_FRAME_WITHIN`] or goes silent for [`IDLE_LIMIT`], or more
//! than [`MAX_CONNECTIONS`] at once, closes that connection and nothing else.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

/// Larger than any packet WebRTC sends over ICE-TCP (str0m keeps to ~1200
/// bytes; a DTLS flight is split into records).
pub const MAX_FRAME: usize = 4096;
/// Connections open at once; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 512;
/// A browser sends its first STUN binding request at once.
pub const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(10);
/// ICE consent checks arrive every few seconds on a live connection.
pub const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// Packets waiting to be written to one connection.
const WRITE_QUEUE: usize = 512;

/// What the connections tell the relay task.
#[derive(Debug)]
pub enum TcpEvent {
    /// A connection from `peer`; write its packets into `writer`.
    Opened {
        peer: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    /// One whole frame from `peer`.
    Frame { peer: SocketAddr, contents: Vec<u8> },
    /// The connection from `peer` is gone.
    Closed { peer: SocketAddr },
}

/// Accepts connections until the relay task stops listening (its end of
/// `events` dropped).
pub async fn serve(listener: TcpListener, events: mpsc::Sender<TcpEvent>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: wait rather than spin.
                    tracing::debug!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = events.closed() => return,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "tcp connection refused: too many open");
            continue;
        };
        let events = events.clone();
        tokio::spawn(async move {
            connection(stream, peer, events).await;
            drop(permit);
        });
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, events: mpsc::Sender<TcpEvent>) {
    // Small packets must go out at once: they are media, not bulk data.
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let (writer, mut queue) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    if events.send(TcpEvent::Opened { peer, writer }).await.is_err() {
        return;
    }
    let writing = tokio::spawn(async move {
        while let Some(packet) = queue.recv().await {
            let mut framed = Vec::with_capacity(packet.len() + 2);
            framed.extend_from_slice(&(packet.len() as u16).to_be_bytes());
            framed.extend_from_slice(&packet);
            if write.write_all(&framed).await.is_err() {
                break;
            }
        }
    });
    let mut limit = FIRST_FRAME_WITHIN;
    loop {
        match tokio::time::timeout(limit, read_frame(&mut read)).await {
            Ok(Ok(contents)) => {
                limit = IDLE_LIMIT;
                if events.send(TcpEvent::Frame { peer, contents }).await.is_err() {
                    break;
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "tcp connection closed");
                break;
            }
            Err(_) => {
                tracing::debug!(%peer, "tcp connection silent: closed");
                break;
            }
        }
    }
    writing.abort();
    let _ = events.send(TcpEvent::Closed { peer }).await;
}

/// One RFC 4571 frame; an error for a zero or oversized length (nothing
/// WebRTC sends) or a closed stream.
pub async fn read_frame(read: &mut (impl AsyncReadExt + Unpin)) -> io::Result<Vec<u8>> {
    let len = read.read_u16().await? as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len}"),
        ));
    }
    let mut contents = vec![0u8; len];
    read.read_exact(&mut contents).await?;
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_read_whole_whatever_the_segmentation() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            // One frame split across writes, then a second in the same write as its length.
            a.write_all(&[0, 5, b'h']).await.unwrap();
            a.write_all(b"ello").await.unwrap();
            a.write_all(&[0, 2, b'o', b'k']).await.unwrap();
        });
        assert_eq!(read_frame(&mut b).await.unwrap(), b"hello");
        assert_eq!(read_frame(&mut b).await.unwrap(), b"ok");
        writer.await.unwrap();
        // The stream ended: an error, not a hang or an empty frame.
        assert!(read_frame(&mut b).await.is_err());
    }

    #[tokio::test]
    async fn zero_and_oversized_lengths_are_refused() {
        for len in [0u16, (MAX_FRAME + 1) as u16, u16::MAX] {
            let (mut a, mut b) = tokio::io::duplex(64);
            a.write_all(&len.to_be_bytes()).await.unwrap();
            let err = read_frame(&mut b).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{len}");
        }
    }
}
