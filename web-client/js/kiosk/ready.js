// After consent: the patient's video call, here on the kiosk. The server
// admits only a patient socket authenticated by the join token, so the kiosk
// asks for a fresh join link (`POST /api/consults/<id>/join-link`, which
// revokes the one sent to the patient's phone — the screen says so), keeps
// the token in a variable of this module only (never in the URL, the history,
// the DOM or any storage), opens `/ws?join=<token>`, sends `join` and waits
// ("Esperando al especialista…"); on `admitted` the shared call (js/call/)
// takes over with large touch controls. stopCall() closes the socket, the
// camera and microphone and drops the token; the kiosk calls it whenever it
// forgets the patient.
//
// While it waits, the kiosk runs the patient page's network check with the
// same token (js/patient/network.js) and reports its round trips (`network`):
// a clinic on a satellite link is the case it is for, and the specialist's
// player then allows for that round trip from the first frame
// (call/playout.js). The staff member sees the verdict under the wait.

import { post } from '../api.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { joinRoom } from '../call/signaling.js';
import { startCall } from '../call/session.js';
import { errorText } from '../app/ui.js';
import { checkNetwork, rttReporter } from '../patient/network.js';

/** The one call of this kiosk: { token, signaling, call, closed, netCheck, netResult, report }. */
let current = null;

/** Leaves the room, closes socket, camera and microphone, forgets the token. Idempotent. */
export function stopCall() {
  const s = current;
  current = null;
  if (!s) return;
  s.closed = true;
  s.token = null;
  s.netCheck?.abort();
  s.netCheck = null;
  if (s.call) {
    s.call.leave(); // sends `leave`, closes the peer connection, the tracks and the socket
  } else if (s.signaling) {
    s.signaling.send({ type: 'leave' });
    s.signaling.close();
  }
  s.call = null;
  s.signaling = null;
}

/**
 * onFinish: "Terminar y volver a la lista"; onCallStart: the patient was
 * admitted (the call is on screen); onCallOver(messageKey): the call or the
 * consult ended — go back to the list; announce(text): the live region.
 */
export function showReady(main, consult, { onFinish, onCallStart, onCallOver, announce }) {
  stopCall();
  const s = { token: null, signaling: null, call: null, closed: false, netCheck: null, netResult: null, report: null };
  current = s;

  const finish = h('button', { type: 'button', class: 'btn k-big', onclick: onFinish }, t('kiosk_finish'));
  const state = h('div', { class: 'k-call-state' });
  replace(main,
    h('section', { class: 'k-patient k-ready', 'aria-labelledby': 'k-ready' },
      h('p', { class: 'k-done' }, h('span', { class: 'k-done-mark', 'aria-hidden': 'true' }, '✓'), t('kiosk_ready_consent_saved')),
      h('h1', { id: 'k-ready' }, t('kiosk_ready_title')),
      h('p', { class: 'k-facts' }, t('kiosk_ready_waiting', { name: consult.patient_name, doctor: consult.specialist_name })),
      h('p', { class: 'notice warn k-link-note' }, t('kiosk_link_replaced')),
      state,
      h('div', { class: 'actions' }, finish)));

  const network = h('p', { class: 'k-network', 'aria-live': 'polite' });
  const showNetwork = (level) => {
    network.dataset.network = level;
    replace(network, h('strong', {}, `${t('kiosk_network')}: `), level === 'pending' ? t('kiosk_network_pending') : t(`network_${level}`));
  };

  /**
   * One check per patient on screen; its first round trip goes out at once,
   * then its result, on the socket open then (a retried socket gets the
   * result when it opens).
   */
  function checkLink(signaling) {
    s.report = rttReporter(signaling);
    if (s.netCheck) {
      if (s.netResult) s.report(s.netResult.rttMs);
      return;
    }
    s.netCheck = new AbortController();
    showNetwork('pending');
    checkNetwork(s.token, { onFirstRtt: (rtt) => s.report(rtt), signal: s.netCheck.signal })
      .catch(() => ({ level: 'none', rttMs: null }))
      .then((result) => {
        if (s.closed) return;
        s.netResult = result;
        s.report(result.rttMs);
        showNetwork(result.level);
      });
  }

  const showProblem = (text) => {
    if (s.closed || s.call) return;
    replace(state, h('div', { class: 'k-call-problem', role: 'alert' },
      h('p', { class: 'notice error' }, text),
      h('button', { type: 'button', class: 'btn primary k-big', onclick: connect }, t('kiosk_call_retry'))));
  };

  function admitted(msg) {
    if (s.closed || s.call) return;
    s.call = startCall({
      signaling: s.signaling,
      selfId: msg.participant_id,
      staff: false,
      announce,
      onFinished: (kind) => {
        if (s.closed) return; // the kiosk itself closed the call
        onCallOver(kind === 'lost' ? 'kiosk_call_lost' : 'kiosk_call_done');
      },
    });
    replace(main, h('section', { class: 'k-call', 'aria-label': t('kiosk_call_region') }, s.call.view.el));
    announce?.(t('waiting_admitted'));
    onCallStart?.();
  }

  async function connect() {
    if (s.closed) return;
    replace(state, h('p', { class: 'k-call-wait', role: 'status' }, t('kiosk_call_starting')));
    try {
      if (!s.token) {
        const link = await post(`/consults/${consult.id}/join-link`);
        if (s.closed) return;
        s.token = link.token;
      }
      const { signaling, reply } = await joinRoom(`?join=${encodeURIComponent(s.token)}`, { type: 'join' }, ['waiting', 'admitted']);
      if (s.closed) {
        signaling.send({ type: 'leave' });
        signaling.close();
        return;
      }
      s.signaling = signaling;
      checkLink(signaling);
      signaling.on('admitted', admitted);
      signaling.on('ended', () => {
        if (s.closed || s.call) return;
        onCallOver('kiosk_call_consult_closed');
      });
      signaling.on('close', () => {
        if (s.closed || s.call) return;
        s.signaling = null;
        showProblem(t('kiosk_call_failed'));
      });
      if (reply.type === 'admitted') {
        admitted(reply);
        return;
      }
      replace(state, h('div', { class: 'k-call-wait', role: 'status' },
        h('span', { class: 'k-call-pulse', 'aria-hidden': 'true' }),
        h('p', { class: 'k-call-wait-title' }, t('kiosk_call_waiting')),
        h('p', {}, t('kiosk_call_waiting_hint', { doctor: consult.specialist_name })),
        network));
    } catch (err) {
      if (s.closed) return;
      // A refused socket (link not open yet, consult closed) or an API error.
      showProblem(err?.status ? errorText(err) : t('kiosk_call_failed'));
    }
  }

  connect();
  finish.focus();
}
