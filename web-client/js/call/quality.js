// Connection quality in words, from RTCPeerConnection.getStats(): packet loss
// of what we receive (since the last sample) and the round-trip time of the
// selected candidate pair → 'good' | 'fair' | 'poor' (null until known).

export function watchQuality(pc, onLevel, everyMs = 2000) {
  let last = null;
  const sample = async () => {
    if (pc.connectionState === 'closed') return;
    let received = 0;
    let lost = 0;
    let rtt = null;
    try {
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === 'inbound-rtp') {
          received += s.packetsReceived ?? 0;
          lost += Math.max(0, s.packetsLost ?? 0);
        } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && typeof s.currentRoundTripTime === 'number') {
          rtt = s.currentRoundTripTime;
        } else if (s.type === 'remote-inbound-rtp' && rtt === null && typeof s.roundTripTime === 'number') {
          rtt = s.roundTripTime;
        }
      });
    } catch {
      return;
    }
    const prev = last;
    last = { received, lost };
    if (!prev) return;
    const dr = received - prev.received;
    const dl = lost - prev.lost;
    if (dr + dl <= 0 && rtt === null) return;
    const loss = dr + dl > 0 ? dl / (dr + dl) : 0;
    const r = rtt ?? 0;
    let level = 'good';
    if (loss > 0.08 || r > 0.7) level = 'poor';
    else if (loss > 0.02 || r > 0.3) level = 'fair';
    onLevel(level, { loss, rtt });
  };
  const timer = setInterval(sample, everyMs);
  sample();
  return () => clearInterval(timer);
}
