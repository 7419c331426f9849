// What the benchmark watches inside each browser page. `installProbe` is
// serialised by Playwright into every page of a context (addInitScript), so
// it must be self-contained: no imports, no closures over this module.
//
// It keeps, in `window.__benchProbe`:
// - `samples`: every `everyMs`, the counters of the call's RTCPeerConnection
//   (`window.__cercaPeer`, the web client's test hook) that the report
//   needs, plus what the screen says (video paused notices, connection)
//   and the caps the client set on its own video encodings;
// - `frames`: per remote participant, one entry per video frame callback
//   (requestVideoFrameCallback): its wall-clock time, size, and how many
//   frames the browser presented since the callback before (the advance of
//   `presentedFrames`). Freezes are measured from these times: a stall the
//   patient sees, not one the decoder counts. Frame rates are counted from
//   the advance, not from the callbacks: Chrome runs the callbacks in the
//   page's rendering steps, and when two frames reach the screen between
//   two steps it calls back once. On this 2-core machine that left about
//   three frames a second uncounted on an unimpaired link (decision 0021).
// - in each sample, `screen.playback`: per remote participant, the video
//   element's own count of frames it was given and of those it dropped
//   before display (getVideoPlaybackQuality), a cross-check of the above;
//   both start again when the element gets a new stream (a media restart).

export function installProbe(everyMs) {
  const samples = [];
  const frames = {};
  const pcIds = new WeakMap();
  let nextPc = 1;
  window.__benchProbe = { samples, frames };

  const pick = (r, keys) => Object.fromEntries(keys.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]));
  const IN_AUDIO = ['mid', 'packetsReceived', 'packetsLost', 'bytesReceived', 'jitter', 'concealedSamples',
    'silentConcealedSamples', 'totalSamplesReceived', 'concealmentEvents', 'fecPacketsReceived',
    'jitterBufferDelay', 'jitterBufferEmittedCount'];
  const IN_VIDEO = ['mid', 'packetsReceived', 'packetsLost', 'bytesReceived', 'jitter', 'framesDecoded',
    'framesReceived', 'framesDropped', 'keyFramesDecoded', 'frameWidth', 'frameHeight', 'framesPerSecond',
    'freezeCount', 'totalFreezesDuration', 'pauseCount', 'totalPausesDuration', 'nackCount', 'pliCount',
    'jitterBufferDelay', 'jitterBufferEmittedCount', 'jitterBufferTargetDelay'];
  const OUT = ['mid', 'rid', 'kind', 'bytesSent', 'packetsSent', 'frameWidth', 'frameHeight', 'framesPerSecond',
    'framesEncoded', 'qualityLimitationReason', 'active', 'targetBitrate', 'retransmittedPacketsSent'];

  async function sample() {
    const pc = window.__cercaPeer;
    const screen = {
      paused: [...document.querySelectorAll('.tile[data-participant]')]
        .filter((el) => el.dataset.paused === 'true').map((el) => el.dataset.participant),
      connection: document.querySelector('.call-connection')?.dataset.state ?? null,
      ended: Boolean(document.querySelector('.call-ended')),
      playback: Object.fromEntries([...document.querySelectorAll('.tile[data-participant] video')]
        .filter((v) => typeof v.getVideoPlaybackQuality === 'function')
        .map((v) => {
          const q = v.getVideoPlaybackQuality();
          return [v.closest('.tile').dataset.participant, [q.totalVideoFrames, q.droppedVideoFrames]];
        })),
    };
    if (!pc) {
      samples.push({ t: Date.now(), pc: 0, screen });
      return;
    }
    if (!pcIds.has(pc)) pcIds.set(pc, nextPc++);
    const report = await pc.getStats();
    const s = { t: Date.now(), pc: pcIds.get(pc), screen, inAudio: [], inVideo: [], out: [], pair: null };
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        s.inAudio.push(pick(r, IN_AUDIO));
      }
      else if (r.type === 'inbound-rtp' && r.kind === 'video') s.inVideo.push(pick(r, IN_VIDEO));
      else if (r.type === 'outbound-rtp') s.out.push(pick(r, OUT));
      else if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') {
        s.pair = pick(r, ['currentRoundTripTime', 'availableOutgoingBitrate', 'bytesSent', 'bytesReceived']);
      }
    });
    // The caps the web client sets on its own video encodings: decision
    // 0006's uplink nudge shows as a cap moving by a kilobit.
    s.caps = Object.fromEntries(pc.getSenders()
      .filter((x) => x.track?.kind === 'video')
      .flatMap((x) => x.getParameters().encodings ?? [])
      .map((e) => [e.rid ?? '', e.maxBitrate ?? null]));
    samples.push(s);
  }
  setInterval(() => { sample().catch(() => {}); }, everyMs);

  // Remote video elements appear with their tiles (a media restart keeps
  // the element and gives it a new stream: see onFrame): watch each once.
  const watched = new WeakSet();
  setInterval(() => {
    document.querySelectorAll('.tile[data-participant] video').forEach((video) => {
      if (watched.has(video) || typeof video.requestVideoFrameCallback !== 'function') return;
      watched.add(video);
      const pid = video.closest('.tile').dataset.participant;
      const list = (frames[pid] ??= []);
      // presentedFrames counts from the element's media player's first
      // frame; a media restart gives the element a new stream and the count
      // starts again, so a fall counts as the one frame of this callback.
      let presentedBefore = 0;
      const onFrame = (now, meta) => {
        const presented = meta.presentedFrames > presentedBefore ? meta.presentedFrames - presentedBefore : 1;
        presentedBefore = meta.presentedFrames;
        list.push([Math.round(performance.timeOrigin + now), meta.width, meta.height, presented]);
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    });
  }, 100);
}
