// Step 3: the waiting room. The page joins the consult's room over /ws
// (`join` → `waiting`, then `network` with the network check's round trip)
// and goes to the call on `admitted`; it also keeps checking the consult so
// that a cancellation is told to the patient rather than leaving them
// waiting. If the server does not speak the room protocol (or the socket
// fails), the page says honestly that the call is not here.

import { get } from '../api.js';
import { h, replace } from '../dom.js';
import { t, locale } from '../i18n.js';
import { go, say } from './main.js';
import { joinRoom } from '../call/signaling.js';
import { rttReporter } from './network.js';

const CHECK_EVERY_MS = 20000;

export function waitingStep(main, flow) {
  clearTimeout(flow.waitTimer);
  const info = flow.info;
  const when = new Date(info.starts_at).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  replace(main,
    h('section', { class: 'step waiting', 'aria-labelledby': 'wait-title' },
      h('p', { class: 'step-count' }, t('step_of', { n: 3, total: 3 })),
      h('div', { class: 'pulse', 'aria-hidden': 'true' }, '✓'),
      h('h1', { id: 'wait-title' }, t('waiting_title')),
      h('p', { class: 'big', role: 'status' }, t('waiting_doctor_knows')),
      h('p', {}, t('waiting_with', { doctor: info.specialist_name, time: when })),
      h('p', {}, t('waiting_keep_open'))),
    h('section', { class: 'step' },
      h('h2', {}, t('waiting_meanwhile')),
      h('ul', {}, h('li', {}, t('waiting_tip_quiet')), h('li', {}, t('waiting_tip_charge')), h('li', {}, t('waiting_tip_signal'))),
      roomHint(flow)));
  openRoom(flow);

  const check = async () => {
    try {
      const now = await get(`/join/${encodeURIComponent(flow.token)}`);
      flow.info = now;
    } catch (err) {
      if (err.code !== 'network') {
        go('problem', { error: err });
        return;
      }
    }
    if (flow.screen === 'waiting') flow.waitTimer = setTimeout(check, CHECK_EVERY_MS);
  };
  flow.waitTimer = setTimeout(check, CHECK_EVERY_MS);
}

function roomHint(flow) {
  const state = flow.room?.state ?? 'connecting';
  const key = { waiting: 'waiting_call_ready', admitted: 'waiting_admitted' }[state] ?? 'waiting_call_not_ready';
  return h('p', { class: state === 'waiting' ? 'notice ok room-hint' : 'hint room-hint', dataset: { room: state } }, t(key));
}

function redrawHint(flow) {
  const old = document.querySelector('.room-hint');
  if (old && flow.screen === 'waiting') old.replaceWith(roomHint(flow));
}

/** Joins the waiting room once per page; survives redraws (language switch). */
function openRoom(flow) {
  if (flow.room) return;
  const room = { state: 'connecting', signaling: null, selfId: null };
  flow.room = room;
  const admitted = (msg) => {
    room.state = 'admitted';
    room.selfId = msg.participant_id;
    say(t('waiting_admitted'));
    go('call');
  };
  joinRoom(`?join=${encodeURIComponent(flow.token)}`, { type: 'join' }, ['waiting', 'admitted'])
    .then(({ signaling, reply }) => {
      room.signaling = signaling;
      // The device step's check's round trips as they come (the patient
      // may have come in before it ended), in the waiting room or already
      // in the call: the first one measured, then the check's result.
      const report = rttReporter(signaling);
      Promise.resolve(flow.networkFirstRtt)
        .then(report)
        .then(() => flow.networkCheck)
        .then((result) => report(result?.rttMs));
      signaling.on('admitted', admitted);
      signaling.on('ended', () => {
        if (room.state !== 'waiting') return;
        room.state = 'closed';
        signaling.close();
        go('problem', { error: { code: 'consult_closed' } });
      });
      signaling.on('close', () => {
        if (room.state !== 'waiting') return;
        room.state = 'unavailable';
        redrawHint(flow);
      });
      if (reply.type === 'admitted') {
        admitted(reply);
        return;
      }
      room.state = 'waiting';
      redrawHint(flow);
    })
    .catch(() => {
      // `unsupported` (no rooms on this server), refused upgrade, or no network.
      room.state = 'unavailable';
      redrawHint(flow);
    });
}
