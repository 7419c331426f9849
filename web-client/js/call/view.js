// The call screen: the others' video large, our own small and mirrored, the
// controls (words + icon, ≥ 48 px), the connection quality in words, a
// "Reconectando…" line, "Modo solo audio", each participant's microphone and
// camera state, "video paused to keep the audio clear" when the relay stops
// a video for bandwidth (instead of a frozen frame), the chat panel, and the
// end screen. It only draws; what the
// buttons do comes in as `actions`. relabel() redraws every word (language switch).

import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { icon } from './icons.js';
import { createChat } from './chat.js';

const PAUSE_TEXT = { bandwidth: 'call_video_paused', sender_network: 'call_video_paused_sender' };

function playVideo(video, onBlocked) {
  video.play().catch(() => {
    // Autoplay with sound refused (no user gesture yet): play muted, offer sound.
    video.muted = true;
    video.play().catch(() => {});
    onBlocked?.(video);
  });
}

export function createCallView({ staff, actions }) {
  const state = { mic: true, cam: true, hasCam: true, canSwitch: false, audioOnly: false, quality: null, connection: 'connecting', chatOpen: false, unread: 0, ended: null };
  const tiles = new Map(); // participant id → { el, video, name, status, participant, stream }

  const title = h('h2', { id: 'call-title', class: 'call-title' });
  const quality = h('p', { class: 'call-quality', dataset: { level: 'unknown' } });
  const connection = h('p', { class: 'call-connection', role: 'status' });
  const audioOnlyNote = h('p', { class: 'call-audio-only', role: 'status' });
  const soundNote = h('div', { class: 'call-sound', hidden: true });
  const remotes = h('div', { class: 'call-remotes' });
  const nobody = h('p', { class: 'call-nobody' });
  const selfVideo = h('video', { autoplay: true, muted: true, playsInline: true });
  selfVideo.muted = true;
  const selfLabel = h('span', { class: 'tile-name' });
  const selfStatus = h('span', { class: 'tile-status' });
  const self = h('div', { class: 'call-self' }, selfVideo, h('p', { class: 'tile-label' }, selfLabel, selfStatus));

  const btn = (cls, onclick) => h('button', { type: 'button', class: `btn call-btn ${cls}`, onclick });
  const micBtn = btn('mic', () => actions.toggleMic());
  const camBtn = btn('cam', () => actions.toggleCam());
  const switchBtn = btn('switch', () => actions.switchCam());
  const audioBtn = btn('audio-only', () => actions.toggleAudioOnly());
  const chatBtn = btn('chat-toggle', () => setChatOpen(!state.chatOpen));
  const endBtn = btn('end danger primary', () => actions.hangUp());
  const controls = h('div', { class: 'call-controls', role: 'group' }, micBtn, camBtn, switchBtn, audioBtn, chatBtn, endBtn);
  const chat = createChat({ onSend: (text) => actions.sendChat(text) });
  chatBtn.setAttribute('aria-controls', 'call-chat');
  chat.el.id = 'call-chat';

  const live = h('div', { class: 'call-live' },
    h('div', { class: 'call-head' }, title, quality),
    connection, audioOnlyNote, soundNote,
    h('div', { class: 'call-stage' }, remotes, self),
    controls, chat.el);
  const el = h('section', { class: 'call', 'aria-labelledby': title.id }, live);

  function setButton(b, iconName, off, text) {
    replace(b, icon(iconName, off), h('span', {}, text));
  }

  function tileStatus(p) {
    const words = [];
    if (p && p.audio === false) words.push(t('call_mic_off'));
    if (p && p.video === false) words.push(t('call_cam_off'));
    return words.join(' · ');
  }

  function drawTile(tile) {
    const p = tile.participant;
    tile.name.textContent = p?.display_name || (p?.role === 'patient' ? t('call_role_patient') : t('call_someone'));
    const st = tileStatus(p);
    tile.status.textContent = st;
    tile.status.hidden = !st;
    tile.el.dataset.audio = String(p?.audio !== false);
    tile.el.dataset.video = String(p?.video !== false);
    const hasVideo = Boolean(tile.stream?.getVideoTracks().length) && p?.video !== false;
    // Paused by the relay: for our link ('bandwidth') or for the sender's
    // ('sender_network'); either way say so instead of showing a frozen frame.
    const paused = PAUSE_TEXT[tile.paused] !== undefined && hasVideo && !state.audioOnly;
    tile.noVideo.textContent = state.audioOnly ? t('call_audio_only_tile') : paused ? t(PAUSE_TEXT[tile.paused]) : t('call_no_video');
    tile.noVideo.hidden = hasVideo && !state.audioOnly && !paused;
    // The opaque notice covers the last frame, which would look like a frozen call.
    tile.el.dataset.paused = String(paused);
  }

  function tileFor(pid) {
    if (tiles.has(pid)) return tiles.get(pid);
    const video = h('video', { autoplay: true, playsInline: true });
    const name = h('span', { class: 'tile-name' });
    const status = h('span', { class: 'tile-status' });
    const noVideo = h('p', { class: 'tile-novideo' });
    const tile = { video, name, status, noVideo, participant: null, stream: null, paused: null, resumeWait: null };
    tile.el = h('div', { class: 'tile', dataset: { participant: pid } }, video, noVideo, h('p', { class: 'tile-label' }, name, status));
    tiles.set(pid, tile);
    remotes.append(tile.el);
    drawAll();
    return tile;
  }

  function drawAll() {
    nobody.textContent = staff ? t('call_waiting_others') : t('call_connecting_doctor');
    if (tiles.size === 0 && !nobody.isConnected) remotes.append(nobody);
    if (tiles.size > 0) nobody.remove();
    remotes.dataset.count = String(tiles.size);
    for (const tile of tiles.values()) drawTile(tile);
  }

  function setChatOpen(open) {
    state.chatOpen = open;
    if (open) state.unread = 0;
    chat.el.hidden = !open;
    relabel();
    if (open) chat.input.focus();
  }

  function relabel() {
    if (state.ended) return drawEnd();
    title.textContent = t('call_title');
    setButton(micBtn, 'mic', !state.mic, state.mic ? t('call_mute') : t('call_unmute'));
    setButton(camBtn, 'cam', !state.cam, state.cam ? t('call_cam_stop') : t('call_cam_start'));
    camBtn.disabled = state.audioOnly || !state.hasCam;
    setButton(switchBtn, 'switch', false, t('call_switch_cam'));
    switchBtn.hidden = !state.canSwitch || state.audioOnly;
    setButton(audioBtn, 'audio', false, state.audioOnly ? t('call_audio_only_off') : t('call_audio_only_on'));
    setButton(chatBtn, 'chat', false, state.unread ? t('call_chat_unread', { n: state.unread }) : t('call_chat'));
    chatBtn.setAttribute('aria-expanded', String(state.chatOpen));
    setButton(endBtn, 'hangup', false, staff ? t('call_end') : t('call_leave'));
    controls.setAttribute('aria-label', t('call_controls'));
    const q = state.quality;
    quality.dataset.level = q ?? 'unknown';
    replace(quality, h('span', { class: 'bars', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
      h('span', {}, q ? t('call_quality', { level: t(`call_quality_${q}`) }) : t('call_quality_unknown')));
    const conn = { connecting: t('call_connecting'), reconnecting: t('call_reconnecting'), failed: t('call_failed'), connected: '' }[state.connection] ?? '';
    connection.textContent = conn;
    connection.hidden = !conn;
    connection.dataset.state = state.connection;
    audioOnlyNote.textContent = state.audioOnly ? t('call_audio_only_mode') : '';
    audioOnlyNote.hidden = !state.audioOnly;
    el.classList.toggle('audio-only', state.audioOnly);
    selfLabel.textContent = t('call_you');
    const selfWords = [!state.mic ? t('call_mic_off') : '', (!state.cam || state.audioOnly || !state.hasCam) ? t('call_cam_off') : ''].filter(Boolean).join(' · ');
    selfStatus.textContent = selfWords;
    selfStatus.hidden = !selfWords;
    chat.relabel();
    drawAll();
    return undefined;
  }

  function showSoundButton() {
    const b = h('button', { type: 'button', class: 'btn primary' }, t('call_enable_sound'));
    b.addEventListener('click', () => {
      for (const tile of tiles.values()) { tile.video.muted = false; tile.video.play().catch(() => {}); }
      soundNote.hidden = true;
    });
    replace(soundNote, b);
    soundNote.hidden = false;
  }

  function drawEnd() {
    const kind = state.ended;
    const heading = h('h2', { tabindex: '-1', class: 'call-end-title' }, t(`call_end_${kind}_title`));
    el.classList.add('ended');
    replace(el, h('div', { class: 'call-ended', role: 'status' },
      h('div', { class: 'call-end-mark', 'aria-hidden': 'true' }, kind === 'lost' ? '!' : '✓'),
      heading,
      h('p', {}, staff ? t(`call_end_${kind}_staff`) : t(`call_end_${kind}_patient`))));
    return heading;
  }

  relabel();

  return {
    el,
    relabel,
    set(partial) {
      Object.assign(state, partial);
      relabel();
    },
    get state() {
      return state;
    },
    setLocalStream(stream) {
      selfVideo.srcObject = stream;
      selfVideo.hidden = !stream?.getVideoTracks().length;
      playVideo(selfVideo);
    },
    setParticipant(p) {
      const tile = tileFor(p.participant_id);
      tile.participant = p;
      drawTile(tile);
    },
    removeParticipant(pid) {
      const tile = tiles.get(pid);
      if (!tile) return null;
      tile.video.srcObject = null;
      tile.el.remove();
      tiles.delete(pid);
      drawAll();
      return tile.participant;
    },
    setRemoteStream(pid, stream) {
      const tile = tileFor(pid);
      tile.stream = stream;
      if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
      playVideo(tile.video, showSoundButton);
      stream.onaddtrack = () => drawTile(tile);
      drawTile(tile);
    },
    /** reason: why the relay paused pid's video to us ('bandwidth'), or null when it flows again. */
    setVideoPaused(pid, reason) {
      const tile = tileFor(pid);
      tile.resumeWait = null;
      if (reason === null && tile.paused !== null && tile.video.requestVideoFrameCallback) {
        // The relay forwards again, but the picture moves only from the next
        // keyframe, which takes up to a second over a slow uplink. Until a
        // new frame is shown the notice stays: lifted at once, it uncovered
        // the last frame from before the pause, a still picture that looks
        // like a live one (bench rural, edge: 0-3 frames in such seconds).
        const wait = {};
        tile.resumeWait = wait;
        tile.video.requestVideoFrameCallback(() => {
          if (tile.resumeWait !== wait) return;
          tile.resumeWait = null;
          tile.paused = null;
          drawTile(tile);
        });
        return;
      }
      tile.paused = reason;
      drawTile(tile);
    },
    remoteStreamGone(pid) {
      const tile = tiles.get(pid);
      if (!tile) return;
      tile.stream = null;
      tile.video.srcObject = null;
      drawTile(tile);
    },
    chatLine(msg, mine) {
      chat.add(msg, mine);
      if (!state.chatOpen && !mine) {
        state.unread += 1;
        relabel();
      }
    },
    /** kind: 'ended' | 'left' | 'lost'. */
    end(kind) {
      state.ended = kind;
      drawEnd().focus();
    },
  };
}
