// One RTCPeerConnection to the media relay (docs/protocol.md, "Media"): no
// ICE servers (the relay is ICE-lite and names its host candidate in the
// answer), microphone and camera as sendrecv transceivers, our `offer` →
// the relay's `answer`, and the relay's re-`offer`s answered as they come.
// Remote tracks are grouped by stream id, which names the participant.
//
// Video goes out as two simulcast encodings (half and full resolution,
// RIDs h/f, lowest first as the relay expects); the relay forwards to each
// viewer the one its link can carry, and a `layers` message turns off the
// encodings nobody takes, which saves the sender's uplink and CPU
// (docs/protocol.md, "Adaptation").
//
// Test hook: the connection is exposed as `window.__cercaPeer` so the
// browser tests can read getStats(); nothing else uses it.

import { nudgeUplink } from './uplink.js';

// Why two and not three: for a 640×480 camera Chrome encodes at most two
// simulcast layers (its per-resolution layer limit), and silently drops the
// top one of three, which left 240p as the best anyone could get (measured
// with `bench/bench rural`). Why no maxFramerate: Chrome applies one layer's
// frame-rate cap to all of them. The half-resolution layer is cheap enough
// (at most 200 kbit/s) to start at once on a 3G link and to survive a 300 kbit/s
// uplink; the full one is for 4G, satellite and fiber.
const SIMULCAST = [
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 200_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_000_000 },
];

// DTX: in silence the microphone's Opus sends almost nothing, which on a
// 100 kbit/s link is room for the other side's voice. A sender uses DTX when
// the description it applies asks for it (usedtx=1); the relay offers Opus
// with FEC and RED but cannot also say usedtx (media-relay/src/codecs.rs),
// so we add it to the relay's description before applying it.
export function withDtx(sdp) {
  const opus = new Set([...sdp.matchAll(/^a=rtpmap:(\d+) opus\/48000/gim)].map((m) => m[1]));
  return sdp.replace(/^a=fmtp:(\d+) (.*?)(\r?)$/gm, (line, pt, params, cr) =>
    (opus.has(pt) && !/usedtx=/.test(params) ? `a=fmtp:${pt} ${params};usedtx=1${cr}` : line));
}

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

  // The relay says which of our encodings someone takes (stop the rest) and
  // how much the lowest may send (the weakest viewer's link) and the top one
  // (the strongest viewer's, when under our own cap). Kept and
  // applied again after every negotiation step, because setParameters can
  // fail while a renegotiation is under way.
  let layersWanted = null; // { mid, active, maxBitrate }
  /** An encoding's cap: ours, or lower if the relay asked (a viewer's link). */
  const capFor = (rid) => {
    const ours = SIMULCAST.find((e) => e.rid === rid)?.maxBitrate;
    const cap = Number(layersWanted?.maxBitrate?.[rid]);
    return Number.isFinite(cap) && cap > 0 && ours ? Math.min(ours, cap) : ours;
  };
  // Our full layer's cap, with the uplink nudge's rest (uplink.js).
  const topRid = SIMULCAST[SIMULCAST.length - 1].rid;
  const nudger = nudgeUplink(pc, video.sender, { topRid, baseBps: () => capFor(topRid) });
  async function applyLayers() {
    if (!layersWanted || video.mid !== layersWanted.mid) return;
    const params = video.sender.getParameters();
    if (!params.encodings?.length) return;
    let changed = false;
    for (const enc of params.encodings) {
      const on = layersWanted.active.includes(enc.rid);
      if (enc.active !== on) { enc.active = on; changed = true; }
      const max = nudger.capFor(enc.rid, capFor(enc.rid), on);
      if (max && enc.maxBitrate !== max) { enc.maxBitrate = max; changed = true; }
    }
    if (changed) await video.sender.setParameters(params);
  }

  const offs = [
    signaling.on('layers', (msg) => {
      const maxBitrate = msg.max_bitrate && typeof msg.max_bitrate === 'object' ? msg.max_bitrate : {};
      layersWanted = { mid: msg.mid, active: Array.isArray(msg.active) ? msg.active : [], maxBitrate };
      queue(() => {});
    }),
    signaling.on('answer', (msg) => queue(() => pc.setRemoteDescription({ type: 'answer', sdp: withDtx(msg.sdp) }))),
    signaling.on('offer', (msg) => queue(async () => {
      await pc.setRemoteDescription({ type: 'offer', sdp: withDtx(msg.sdp) });
      await pc.setLocalDescription(await pc.createAnswer());
      signaling.send({ type: 'answer', sdp: pc.localDescription.sdp });
    })),
  ];

  return {
    pc,
    /** The receivers of our own sending transceivers: nothing arrives on them. */
    ownReceivers: new Set([audio.receiver, video.receiver]),
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
      nudger.stop();
      offs.forEach((off) => off());
      pc.close();
      if (window.__cercaPeer === pc) window.__cercaPeer = null;
    },
  };
}
