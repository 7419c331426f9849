// One call, from the moment we are in the room (`joined` or `admitted`) to
// the end screen: wires the socket, the peer connection, the camera and
// microphone and the view together. The caller mounts `view.el`.

import { createPeer } from './peer.js';
import { createCallView } from './view.js';
import { watchQuality } from './quality.js';
import { adaptPlayout, publisherRttMs } from './playout.js';
import { openCallMedia, openCamera, cameras, stopTracks } from './media.js';
import { t } from '../i18n.js';

/**
 * signaling: an open room socket; selfId: our participant id; staff: true for
 * specialist/staff (ends the consult) or false for the patient (leaves);
 * participants: who was already there; confirmEnd(): resolves true to end;
 * onFinished(kind) after the end screen is shown.
 */
export function startCall({ signaling, selfId, staff, participants = [], confirmEnd = async () => true, onFinished, announce }) {
  let stream = null;
  let peer = null;
  let stopQuality = null;
  // Publishers' round trips (playout.js): the relay's figure, and until it
  // comes, the one each participant reported (`link_rtt_ms`: the patient's
  // network check).
  let relayRttMs = null;
  const reportedRttMs = new Map(); // participant id → link_rtt_ms
  const senderRttMs = () => publisherRttMs(relayRttMs, reportedRttMs.size ? Math.max(...reportedRttMs.values()) : null);
  let finished = false;
  const say = (text) => announce?.(text);

  const view = createCallView({ staff, actions: { toggleMic, toggleCam, switchCam, toggleAudioOnly, sendChat, hangUp } });
  const isOther = (p) => p && p.participant_id && p.participant_id !== selfId;
  const meet = (p) => {
    if (Number.isInteger(p.link_rtt_ms)) reportedRttMs.set(p.participant_id, p.link_rtt_ms);
    view.setParticipant(p);
  };
  participants.filter(isOther).forEach(meet);

  const offs = [
    signaling.on('joined', (m) => (m.participants ?? []).filter(isOther).forEach(meet)),
    signaling.on('participant-joined', (m) => { if (isOther(m.participant)) meet(m.participant); }),
    signaling.on('participant-updated', (m) => { if (isOther(m.participant)) meet(m.participant); }),
    signaling.on('participant-left', (m) => {
      reportedRttMs.delete(m.participant_id);
      view.removeParticipant(m.participant_id);
    }),
    signaling.on('chat', (m) => view.chatLine(m, m.from === selfId)),
    signaling.on('video-paused', (m) => {
      view.setVideoPaused(m.participant_id, m.reason);
      if (m.reason === 'bandwidth') say(t('call_video_paused'));
      if (m.reason === 'sender_network') say(t('call_video_paused_sender'));
    }),
    signaling.on('video-resumed', (m) => view.setVideoPaused(m.participant_id, null)),
    // The relay's view of each publisher's round trip (playout.js).
    signaling.on('quality', (m) => {
      const rtts = (Array.isArray(m.video) ? m.video : []).map((v) => v?.sender_rtt_ms).filter(Number.isFinite);
      relayRttMs = rtts.length ? Math.max(...rtts) : null;
    }),
    signaling.on('ended', () => finish('ended')),
    signaling.on('close', () => finish('lost')),
    // The socket dropped and is being resumed (signaling.js): say so; once
    // back, media goes on, or starts afresh if the connection was lost too.
    signaling.on('reconnecting', () => {
      if (finished) return;
      view.set({ connection: 'reconnecting' });
      say(view.el.querySelector('.call-connection')?.textContent);
    }),
    signaling.on('resumed', (m) => {
      if (finished) return;
      (m.participants ?? []).filter(isOther).forEach(meet);
      if (mediaLost()) {
        startPeer().catch((err) => console.warn('cerca: media restart failed', err));
      } else {
        view.set({ connection: peer ? 'connected' : 'connecting' });
      }
      sendMute();
    }),
  ];
  signaling.inCall = true;
  const mediaLost = () => !peer || ['failed', 'closed'].includes(peer.pc.connectionState);
  signaling.restartMedia = mediaLost;

  function sendMute() {
    const s = view.state;
    signaling.send({ type: 'mute', audio: s.mic, video: s.cam && !s.audioOnly && s.hasCam });
  }

  function videoTrack() {
    return stream?.getVideoTracks()[0] ?? null;
  }

  function toggleMic() {
    const mic = !view.state.mic;
    stream?.getAudioTracks().forEach((tr) => { tr.enabled = mic; });
    view.set({ mic });
    sendMute();
  }

  function toggleCam() {
    const cam = !view.state.cam;
    const tr = videoTrack();
    if (tr) tr.enabled = cam;
    view.set({ cam });
    sendMute();
  }

  async function switchCam() {
    const old = videoTrack();
    try {
      const next = await openCamera(old?.getSettings().deviceId);
      next.enabled = view.state.cam;
      await peer?.replaceVideo(next);
      if (old) { stream.removeTrack(old); old.stop(); }
      stream.addTrack(next);
      view.setLocalStream(stream);
    } catch (err) {
      console.warn('cerca: camera switch failed', err);
    }
  }

  async function toggleAudioOnly() {
    if (!view.state.audioOnly) {
      const old = videoTrack();
      await peer?.replaceVideo(null);
      if (old) { stream.removeTrack(old); old.stop(); }
      view.set({ audioOnly: true });
      view.setLocalStream(stream);
      sendMute();
      return;
    }
    try {
      const next = await openCamera(null);
      await peer?.replaceVideo(next);
      stream.addTrack(next);
      view.set({ audioOnly: false, cam: true, hasCam: true });
    } catch {
      view.set({ audioOnly: false, hasCam: false });
    }
    view.setLocalStream(stream);
    sendMute();
  }

  function sendChat(text) {
    return signaling.send({ type: 'chat', text });
  }

  async function hangUp() {
    if (!staff) {
      signaling.send({ type: 'leave' });
      finish('left');
      return;
    }
    if (!(await confirmEnd())) return;
    try {
      await signaling.request({ type: 'end' }, ['ended']);
    } catch {
      // Not in a call the server can end (e.g. nobody was admitted): just leave.
      signaling.send({ type: 'leave' });
      finish('left');
    }
  }

  function finish(kind) {
    if (finished) return;
    finished = true;
    signaling.inCall = false;
    offs.forEach((off) => off());
    stopQuality?.();
    peer?.close();
    stopTracks(stream);
    signaling.close();
    view.end(kind);
    onFinished?.(kind);
  }

  // A new peer connection to the relay (at the start, and after a resume
  // whose media was lost) with the same camera and microphone.
  async function startPeer() {
    stopQuality?.();
    peer?.close();
    peer = createPeer({
      signaling,
      stream,
      onRemoteStream: (pid, s) => view.setRemoteStream(pid, s),
      onRemoteStreamGone: (pid) => view.remoteStreamGone(pid),
      onConnection: (ice, conn) => {
        if (finished) return;
        const before = view.state.connection;
        let next = before;
        if (ice === 'connected' || ice === 'completed') next = 'connected';
        else if (ice === 'disconnected') next = 'reconnecting';
        else if (ice === 'failed' || conn === 'failed') next = 'failed';
        if (next === before) return;
        view.set({ connection: next });
        if (next === 'reconnecting') say(view.el.querySelector('.call-connection')?.textContent);
      },
    });
    const stopWatching = watchQuality(peer.pc, (quality) => { if (!finished && quality !== view.state.quality) view.set({ quality }); });
    const stopPlayout = adaptPlayout(peer.pc, { senderRttMs, ownReceivers: peer.ownReceivers });
    stopQuality = () => { stopWatching(); stopPlayout(); };
    await peer.start();
  }

  async function connect() {
    stream = await openCallMedia();
    if (finished) { stopTracks(stream); return; }
    view.set({ hasCam: Boolean(videoTrack()), cam: Boolean(videoTrack()) });
    view.setLocalStream(stream);
    await startPeer();
    if (!view.state.hasCam) sendMute();
    const canSwitch = (await cameras()).length > 1;
    if (!finished) view.set({ canSwitch });
  }
  connect().catch((err) => console.warn('cerca: call set-up failed', err));

  return {
    view,
    /** Leaves the room without ending the consult (navigation away, page hidden). */
    leave() {
      if (finished) return;
      signaling.send({ type: 'leave' });
      finish('left');
    },
  };
}
