// One RTCPeerConnection to the media relay (docs/protocol.md, "Media"): no
// ICE servers (the relay is ICE-lite and names its host candidate in the
// answer), microphone and camera as sendrecv transceivers, our `offer` →
// the relay's `answer`, and the relay's re-`offer`s answered as they come.
// Remote tracks are grouped by stream id, which names the participant.
//
// Video goes out as three simulcast encodings (quarter, half and full
// resolution, RIDs q/h/f, lowest first as the relay expects); the relay
// forwards to each viewer the one its link can carry, and a `layers`
// message turns off the encodings nobody takes, which saves the sender's
// uplink and CPU (docs/protocol.md, "Adaptation").
//
// Test hook: the connection is exposed as `window.__cercaPeer` so the
// browser tests can read getStats(); nothing else uses it.

// Bitrates cap each layer near what the relay's allocator assumes for a
// 640×360 camera; 15 fps on the lowest keeps it useful on 2G/EDGE links.
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000, maxFramerate: 15 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
];

export function createPeer({ signaling, stream, onRemoteStream, onRemoteStreamGone, onConnection }) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  window.__cercaPeer = pc;
  const audioTrack = stream?.getAudioTracks()[0] ?? null;
  const videoTrack = stream?.getVideoTracks()[0] ?? null;
  const streams = stream ? [stream] : [];
  const audio = pc.addTransceiver(audioTrack ?? 'audio', { direction: 'sendrecv', streams });
  const video = pc.addTransceiver(videoTrack ?? 'video', { direction: 'sendrecv', streams, sendEncodings: SIMULCAST });
  const ours = new Set([audio, video]);

  // Offer/answer steps run one after another, never interleaved; after each,
  // the wanted simulcast layers are applied (again).
  let chain = Promise.resolve();
  const queue = (step) => {
    chain = chain.then(step).catch((err) => console.warn('cerca: negotiation step failed', err))
      .then(() => applyLayers()).catch((err) => console.warn('cerca: layers not applied yet', err));
    return chain;
  };

  const remote = new Map(); // stream id → MediaStream
  pc.addEventListener('track', (ev) => {
    if (ours.has(ev.transceiver)) return;
    const s = ev.streams[0];
    if (!s) return;
    if (!remote.has(s.id)) {
      remote.set(s.id, s);
      s.addEventListener('removetrack', () => {
        if (s.getTracks().length === 0) {
          remote.delete(s.id);
          onRemoteStreamGone?.(s.id);
        }
      });
    }
    onRemoteStream?.(s.id, s);
  });

  const reportState = () => onConnection?.(pc.iceConnectionState, pc.connectionState);
  pc.addEventListener('iceconnectionstatechange', reportState);
  pc.addEventListener('connectionstatechange', reportState);

  // The relay says which of our encodings someone takes; stop the rest.
  // Kept and applied again after every negotiation step, because
  // setParameters can fail while a renegotiation is under way.
  let layersWanted = null; // { mid, active }
  async function applyLayers() {
    if (!layersWanted || video.mid !== layersWanted.mid) return;
    const params = video.sender.getParameters();
    if (!params.encodings?.length) return;
    let changed = false;
    for (const enc of params.encodings) {
      const on = layersWanted.active.includes(enc.rid);
      if (enc.active !== on) { enc.active = on; changed = true; }
    }
    if (changed) await video.sender.setParameters(params);
  }

  const offs = [
    signaling.on('layers', (msg) => {
      layersWanted = { mid: msg.mid, active: Array.isArray(msg.active) ? msg.active : [] };
      queue(() => {});
    }),
    signaling.on('answer', (msg) => queue(() => pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp }))),
    signaling.on('offer', (msg) => queue(async () => {
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      signaling.send({ type: 'answer', sdp: pc.localDescription.sdp });
    })),
  ];

  return {
    pc,
    /** Sends our first offer. */
    start() {
      return queue(async () => {
        await pc.setLocalDescription(await pc.createOffer());
        signaling.send({ type: 'offer', sdp: pc.localDescription.sdp });
      });
    },
    /** Swaps the outgoing camera track (null stops sending video) without renegotiating. */
    replaceVideo(track) {
      return video.sender.replaceTrack(track);
    },
    close() {
      offs.forEach((off) => off());
      pc.close();
      if (window.__cercaPeer === pc) window.__cercaPeer = null;
    },
  };
}
