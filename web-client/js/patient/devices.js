// Step 2: the device check — camera preview, microphone level, a speaker
// test — with plain-language fixes when something fails, then entering the
// waiting room.

import { post } from '../api.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { go, say } from './main.js';
import { inAppBrowser, classify, openDevices, watchLevel, playTestSound, stopStream } from './media.js';
import { checkNetwork } from './network.js';

function fixList(kind) {
  const steps = t(`fix_${kind}_steps`).split('|');
  return h('div', { class: 'notice error', role: 'alert' },
    h('p', {}, h('strong', {}, t(`fix_${kind}_title`))),
    h('ol', { class: 'fix' }, steps.map((s) => h('li', {}, s))));
}

function checkItem(label, state, detail) {
  const marks = { ok: '✓', bad: '✕', pending: '…', warn: '!' };
  return h('li', { class: state },
    h('span', { class: 'mark', 'aria-hidden': 'true' }, marks[state]),
    h('span', {}, h('strong', {}, `${label}: `), detail));
}

export function deviceStep(main, flow) {
  // Redrawn on a language switch: keep the stream, restart the meter.
  flow.stopMeter?.();
  const dev = flow.devices ??= { stream: null, camera: 'pending', mic: 'pending', speaker: 'pending', problem: null, heard: false, network: null };
  const inApp = inAppBrowser();

  const video = h('video', { autoplay: true, muted: true, playsInline: true, 'aria-label': t('camera_preview') });
  video.muted = true;
  const preview = h('div', { class: 'preview' });
  const bar = h('div', { class: 'bar' });
  const meter = h('div', { class: 'meter', role: 'meter', 'aria-label': t('mic_level'), 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', dataset: { level: '0', peak: '0' } }, bar);
  const checks = h('ul', { class: 'check-list', 'aria-live': 'polite' });
  const problemArea = h('div');
  const speakerArea = h('div');
  const networkArea = h('div', { 'aria-live': 'polite' });
  const startBtn = h('button', { type: 'button', class: 'btn primary block' }, t('devices_start'));
  const enterBtn = h('button', { type: 'button', class: 'btn primary block' }, t('enter_waiting_room'));
  const enterError = h('div', { 'aria-live': 'assertive' });

  function renderChecks() {
    const camDetail = { pending: t('check_pending'), ok: t('camera_ok'), bad: t('camera_bad') }[dev.camera];
    const micDetail = { pending: t('mic_pending'), ok: t('mic_ok'), bad: t('mic_bad') }[dev.mic];
    const spkDetail = { pending: t('speaker_pending'), ok: t('speaker_ok'), bad: t('speaker_bad') }[dev.speaker];
    const net = dev.network?.level ?? 'pending';
    const netState = { pending: 'pending', good: 'ok', fair: 'warn', poor: 'warn', none: 'bad' }[net];
    const netItem = checkItem(t('network'), netState, t(`network_${net}`));
    netItem.dataset.network = net;
    replace(checks,
      checkItem(t('camera'), dev.camera, camDetail),
      checkItem(t('microphone'), dev.mic, micDetail),
      checkItem(t('speaker'), dev.speaker, spkDetail),
      netItem);
    renderNetworkHelp();
  }

  // What to do about a slow or blocked network, in plain words; the call
  // may still work, so nothing here stops the patient from going on.
  function renderNetworkHelp() {
    const level = dev.network?.level;
    if (level !== 'poor' && level !== 'none') { replace(networkArea); return; }
    const retry = h('button', { type: 'button', class: 'btn block' }, t('network_retry'));
    retry.addEventListener('click', () => runNetworkCheck());
    replace(networkArea, h('div', { class: level === 'none' ? 'notice error' : 'notice warn', role: 'alert' },
      h('p', {}, h('strong', {}, t(`fix_network_${level}_title`))),
      h('ol', { class: 'fix' }, t(`fix_network_${level}_steps`).split('|').map((x) => h('li', {}, x)))), retry);
  }

  async function runNetworkCheck() {
    if (dev.networkRunning) return;
    dev.networkRunning = true;
    dev.network = null;
    renderChecks();
    // The waiting room reports the round trips (waiting.js), the first as
    // soon as it is measured, even when the patient entered before.
    let firstRtt;
    flow.networkFirstRtt = new Promise((resolve) => { firstRtt = resolve; });
    const running = checkNetwork(flow.token, { onFirstRtt: firstRtt })
      // The server or the relay could not be reached for the check; a link
      // problem (expired, no consent) is told when entering the waiting room.
      .catch(() => ({ level: 'none', rttMs: null, tcp: false }));
    flow.networkCheck = running;
    dev.network = await running;
    firstRtt(dev.network.rttMs); // when the check measured none before
    dev.networkRunning = false;
    if (flow.devices !== dev) return; // left the step meanwhile
    renderChecks();
    say(`${t('network')}: ${t(`network_${dev.network.level}`)}`);
  }

  function renderPreview() {
    if (dev.stream && dev.stream.getVideoTracks().length) {
      video.srcObject = dev.stream;
      replace(preview, video);
      video.play().catch(() => {});
    } else {
      replace(preview, h('p', { class: 'placeholder' }, dev.stream ? t('camera_off_audio_only') : t('camera_not_started')));
    }
  }

  function startMeter() {
    if (!dev.stream?.getAudioTracks().length) return;
    let peak = 0;
    let loud = 0;
    flow.stopMeter = watchLevel(dev.stream, (level) => {
      const pct = Math.round(level * 100);
      bar.style.width = `${pct}%`;
      meter.setAttribute('aria-valuenow', String(pct));
      meter.dataset.level = String(pct);
      peak = Math.max(peak, pct);
      meter.dataset.peak = String(peak);
      if (pct >= 8) loud += 1;
      if (dev.mic !== 'ok' && loud >= 3) {
        dev.mic = 'ok';
        renderChecks();
      }
    });
  }

  async function start() {
    startBtn.disabled = true;
    replace(problemArea);
    try {
      const { stream, videoProblem } = await openDevices();
      dev.stream = stream;
      dev.camera = videoProblem ? 'bad' : 'ok';
      if (videoProblem) replace(problemArea, fixList(inApp ? 'inapp' : videoProblem));
      renderPreview();
      startMeter();
      renderChecks();
      say(videoProblem ? t(`fix_${videoProblem}_title`) : t('camera_ok'));
      startBtn.hidden = true;
    } catch (err) {
      const kind = inApp ? 'inapp' : classify(err);
      dev.camera = 'bad';
      dev.mic = 'bad';
      renderChecks();
      replace(problemArea, fixList(kind));
      startBtn.textContent = t('devices_retry');
      startBtn.disabled = false;
    }
  }
  startBtn.addEventListener('click', start);

  const soundBtn = h('button', { type: 'button', class: 'btn block' }, t('speaker_test'));
  soundBtn.addEventListener('click', async () => {
    soundBtn.disabled = true;
    say(t('speaker_playing'));
    try {
      await playTestSound();
    } catch {
      // No WebAudio: ask anyway; the answer is what matters.
    }
    soundBtn.disabled = false;
    const yes = h('button', { type: 'button', class: 'btn', onclick: () => answer(true) }, t('yes'));
    const no = h('button', { type: 'button', class: 'btn', onclick: () => answer(false) }, t('no'));
    replace(speakerArea, h('p', { class: 'label', id: 'heard-q' }, t('speaker_question')),
      h('div', { class: 'actions', role: 'group', 'aria-labelledby': 'heard-q' }, yes, no));
    yes.focus();
  });
  function answer(heard) {
    dev.speaker = heard ? 'ok' : 'bad';
    renderChecks();
    replace(speakerArea, heard ? '' : fixList('speaker'));
  }

  enterBtn.addEventListener('click', async () => {
    enterBtn.disabled = true;
    replace(enterError);
    try {
      const arrival = await post(`/join/${encodeURIComponent(flow.token)}/arrive`);
      flow.info.status = arrival.status;
      // The call is not part of this page yet: release the camera now.
      flow.stopMeter?.();
      stopStream(dev.stream);
      flow.devices = null;
      go('waiting');
    } catch (err) {
      enterBtn.disabled = false;
      if (err.code === 'consent_required') go('consent');
      else if (['join_link_expired', 'join_link_revoked', 'consult_cancelled', 'not_found'].includes(err.code)) go('problem', { error: err });
      else replace(enterError, h('p', { class: 'notice error', role: 'alert' }, err.code === 'network' ? t('problem_network') : t('enter_failed')));
    }
  });

  renderChecks();
  renderPreview();
  if (!dev.network && !dev.networkRunning) runNetworkCheck();
  if (dev.stream) {
    startBtn.hidden = true;
    startMeter();
  }

  replace(main,
    inApp ? h('div', { class: 'notice warn', role: 'alert' },
      h('p', {}, h('strong', {}, t('inapp_title', { app: inApp }))),
      h('p', {}, t('inapp_body'))) : null,
    h('section', { class: 'step', 'aria-labelledby': 'dev-title' },
      h('p', { class: 'step-count' }, t('step_of', { n: 2, total: 3 })),
      h('h1', { id: 'dev-title' }, t('devices_title')),
      h('p', {}, t('devices_intro')),
      preview,
      startBtn,
      problemArea,
      h('div', { class: 'meter-row' }, h('span', { class: 'label', 'aria-hidden': 'true' }, t('microphone')), meter),
      h('p', { class: 'hint' }, t('mic_hint')),
      soundBtn,
      speakerArea,
      h('h2', {}, t('devices_summary')),
      checks,
      networkArea),
    h('section', { class: 'step' },
      h('p', {}, t('enter_intro')),
      enterError,
      enterBtn));
}
