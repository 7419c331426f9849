//! Relay benchmark: N consults of two str0m bots each, every bot publishing
//! Opus-sized audio (50 frames/s) and three simulcast VP8 layers (30 frames/s,
//! ~150/500/1200 kbit/s), through one relay on loopback; then the same packet
//! rate through a bare UDP forwarder, as the physical floor.
//!
//! ```text
//! bench/relay.sh [consults] [seconds]      # default 4 consults, 20 s
//! ```
//!
//! Figures (see bench/README in the repository README):
//! - relay CPU time per datagram it sends, and datagrams sent per CPU-second,
//!   from the relay thread's own CPU clock (`/proc/self/task/<tid>/stat`);
//!   the forwarder's, measured the same way, and the ratio;
//! - process RSS growth per participant (relay state *and* its bot: both live
//!   in this process, so this is an upper bound for the relay);
//! - video frame latency bot → relay → bot (median, p99): it includes both
//!   bots' str0m legs (packetizing, pacing, reassembly), so it is an upper
//!   bound on what the relay adds; next to it, one datagram's latency through
//!   the bare forwarder (the floor of any relay on this machine).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media_relay::test_call::Call;
use media_relay::test_peer::{Client, MediaKind, PeerOptions};
use media_relay::{RelayHandle, UdpConfig};

/// Linux reports thread CPU in clock ticks of 1/100 s on every platform we run.
const TICKS_PER_SECOND: f64 = 100.0;
const WARM_UP: Duration = Duration::from_secs(5);

fn main() {
    let mut args = std::env::args().skip(1);
    let consults: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4).clamp(1, 60);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20).clamp(5, 600);

    let (relay, relay_tid) = start_relay_thread();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let relay_report = runtime.block_on(run_consults(relay, relay_tid, consults, Duration::from_secs(seconds)));
    let udp_report = udp_floor(relay_report.received_per_second, Duration::from_secs(seconds.min(20)));
    print_report(consults, seconds, &relay_report, &udp_report);
}

struct RelayReport {
    participants: usize,
    cpu_seconds: f64,
    datagrams_sent: u64,
    datagrams_received: u64,
    received_per_second: f64,
    rss_growth_kib: i64,
    latency: Vec<Duration>,
}

struct UdpReport {
    cpu_seconds: f64,
    datagrams: u64,
    latency: Vec<Duration>,
}

/// The relay on its own OS thread and current-thread runtime, so its CPU can
/// be read apart from the bots'.
fn start_relay_thread() -> ((RelayHandle, media_relay::RelayEvents), u32) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("cerca-relay".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("relay runtime");
            rt.block_on(async move {
                let started = media_relay::spawn(UdpConfig {
                    bind: "127.0.0.1:0".parse().expect("literal"),
                    public_addr: None,
                    tcp: false,
                })
                .await
                .expect("relay binds");
                tx.send((started, current_tid())).expect("main thread waits");
                std::future::pending::<()>().await;
            });
        })
        .expect("relay thread");
    let (started, tid) = rx.recv().expect("relay started");
    (started, tid)
}

async fn run_consults(
    (relay, events): (RelayHandle, media_relay::RelayEvents),
    relay_tid: u32,
    consults: usize,
    window: Duration,
) -> RelayReport {
    let rss_before = rss_kib();
    let mut call = Call::with_relay(relay.clone(), events);
    let mut pairs: Vec<(Arc<Client>, Arc<Client>)> = Vec::new();
    let simulcast = PeerOptions {
        simulcast: true,
        ..PeerOptions::default()
    };
    for i in 0..consults {
        let room = format!("consult-{i}");
        let a = call.join_with(&room, &format!("a{i}"), simulcast, None).await;
        let b = call.join_with(&room, &format!("b{i}"), simulcast, None).await;
        pairs.push((a, b));
    }
    for (a, b) in &pairs {
        a.wait_for("media from b", |r| r.count(b.tag, MediaKind::Video) > 10)
            .await;
        b.wait_for("media from a", |r| r.count(a.tag, MediaKind::Video) > 10)
            .await;
    }
    tokio::time::sleep(WARM_UP).await;

    let stats0 = relay.stats().await.expect("relay alive");
    let cpu0 = thread_cpu_seconds(relay_tid);
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = start.elapsed();
    let cpu1 = thread_cpu_seconds(relay_tid);
    let stats1 = relay.stats().await.expect("relay alive");
    let rss_after = rss_kib();

    let mut latency = Vec::new();
    for (a, b) in &pairs {
        for (receiver, sender) in [(a, b), (b, a)] {
            for f in receiver.received().video_from(sender.tag) {
                if f.at < start {
                    continue;
                }
                if let Some(sent) = sender.video_sent_at(f.counter) {
                    latency.push(f.at.saturating_duration_since(sent));
                }
            }
        }
    }
    let received = stats1.datagrams_received - stats0.datagrams_received;
    RelayReport {
        participants: consults * 2,
        cpu_seconds: cpu1 - cpu0,
        datagrams_sent: stats1.datagrams_sent - stats0.datagrams_sent,
        datagrams_received: received,
        received_per_second: received as f64 / elapsed.as_secs_f64(),
        rss_growth_kib: rss_after as i64 - rss_before as i64,
        latency,
    }
}

/// A plain UDP forwarder on its own thread, fed 1000-byte datagrams at the
/// relay's incoming rate; each datagram carries its send time.
fn udp_floor(per_second: f64, window: Duration) -> UdpReport {
    let forwarder = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let forward_to: SocketAddr = receiver.local_addr().expect("addr");
    let forwarder_addr = forwarder.local_addr().expect("addr");
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("udp-forward".into())
        .spawn(move || {
            tid_tx.send(current_tid()).expect("main waits");
            let mut buf = [0u8; 2048];
            while let Ok(n) = forwarder.recv(&mut buf) {
                if n == 1 {
                    break;
                }
                let _ = forwarder.send_to(&buf[..n], forward_to);
            }
        })
        .expect("forwarder thread");
    let tid = tid_rx.recv().expect("forwarder started");
    receiver
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let base = Instant::now();
    let collector = std::thread::spawn(move || {
        let mut latency = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = receiver.recv(&mut buf) {
            if n >= 8 {
                let sent = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
                latency.push(base.elapsed().saturating_sub(Duration::from_nanos(sent)));
            }
        }
        latency
    });
    let every = Duration::from_secs_f64(1.0 / per_second.max(1.0));
    let cpu0 = thread_cpu_seconds(tid);
    let start = Instant::now();
    let mut next = start;
    let mut sent = 0u64;
    let mut datagram = vec![0u8; 1000];
    while start.elapsed() < window {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        datagram[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_be_bytes());
        let _ = sender.send_to(&datagram, forwarder_addr);
        sent += 1;
        next += every;
    }
    let cpu1 = thread_cpu_seconds(tid);
    let _ = sender.send_to(&[0], forwarder_addr);
    let latency = collector.join().expect("collector");
    UdpReport {
        cpu_seconds: cpu1 - cpu0,
        datagrams: sent,
        latency,
    }
}

fn print_report(consults: usize, seconds: u64, r: &RelayReport, u: &UdpReport) {
    let relay_us = r.cpu_seconds * 1e6 / r.datagrams_sent.max(1) as f64;
    let udp_us = u.cpu_seconds * 1e6 / u.datagrams.max(1) as f64;
    let (relay_p50, relay_p99) = percentiles(r.latency.clone());
    let (udp_p50, udp_p99) = percentiles(u.latency.clone());
    println!("relay benchmark: {consults} consults × 2 bots, {seconds} s measured after {WARM_UP:?} warm-up");
    println!("| figure | relay | bare UDP forwarder | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| datagrams in / out per s | {:.0} / {:.0} | {:.0} / {:.0} | |",
        r.received_per_second,
        r.datagrams_sent as f64 / seconds as f64,
        u.datagrams as f64 / seconds.min(20) as f64,
        u.datagrams as f64 / seconds.min(20) as f64,
    );
    println!(
        "| CPU per datagram sent | {relay_us:.1} µs | {udp_us:.1} µs | {:.1}× |",
        relay_us / udp_us.max(0.001)
    );
    println!(
        "| datagrams sent per CPU-second | {:.0} | {:.0} | |",
        r.datagrams_sent as f64 / r.cpu_seconds.max(0.001),
        u.datagrams as f64 / u.cpu_seconds.max(0.001)
    );
    println!(
        "| latency median (video frame end to end / one datagram) | {} | {} | |",
        ms(relay_p50),
        ms(udp_p50),
    );
    println!("| latency p99 | {} | {} | |", ms(relay_p99), ms(udp_p99));
    println!(
        "| process RSS growth per participant (relay + its bot) | {:.0} KiB | | |",
        r.rss_growth_kib as f64 / r.participants as f64
    );
    println!("relay datagrams received in the window: {}", r.datagrams_received);
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    if v.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// This thread's kernel id (`/proc/thread-self` names it).
fn current_tid() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()))
        .expect("/proc/thread-self names the thread")
}

/// User + system CPU of one thread of this process, in seconds.
fn thread_cpu_seconds(tid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("thread stat");
    // Fields after the parenthesised name; utime and stime are the 14th and 15th.
    let after = &stat[stat.rfind(')').expect("stat has a name") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    ticks as f64 / TICKS_PER_SECOND
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
