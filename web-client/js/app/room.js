// The consult's room for the specialist or staff: "Entrar a la consulta"
// joins it over /ws, shows who is in the waiting room with "Admitir" (sent
// over the socket), and then the call view. If the server does not speak the
// room protocol, says so and keeps the REST-only admit as before.

import { post } from '../api.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { joinRoom } from '../call/signaling.js';
import { startCall } from '../call/session.js';
import { announce, confirmDialog, errorBox, onLeave } from './ui.js';
import { pollNow } from './waiting-alert.js';

const OPEN = ['scheduled', 'waiting', 'in_call'];

/** The "Entrar a la consulta" button, or null when the consult is closed. */
export function enterButton(consult, { callArea, layout, onStatus }) {
  if (!OPEN.includes(consult.status)) return null;
  const button = h('button', { type: 'button', class: 'btn primary', id: 'room-enter' }, t('room_enter'));
  button.addEventListener('click', () => enter(consult, { button, callArea, layout, onStatus }));
  return button;
}

async function enter(consult, { button, callArea, layout, onStatus }) {
  button.disabled = true;
  button.textContent = t('room_entering');
  let signaling;
  let reply;
  try {
    ({ signaling, reply } = await joinRoom('', { type: 'join', consult_id: consult.id }, ['joined']));
  } catch (err) {
    button.disabled = false;
    button.textContent = t('room_enter');
    const known = ['not_allowed', 'illegal_transition', 'room_full'].includes(err.code);
    if (known) {
      replace(callArea, h('p', { class: 'notice error', role: 'alert' }, t(`room_error_${err.code}`)));
      return;
    }
    if (err.code !== 'unsupported' && err.code !== 'refused') {
      replace(callArea, h('p', { class: 'notice error', role: 'alert' }, t('room_failed')));
      return;
    }
    replace(callArea, unavailable(consult, onStatus));
    return;
  }
  button.hidden = true;
  layout.classList.add('with-call');
  document.body.classList.add('in-call');

  const waitingLine = h('div', { class: 'room-waiting', 'aria-live': 'polite' });
  // The push names the patient by given names; this page knows the full name.
  const showWaiting = () => {
    const admit = h('button', { type: 'button', class: 'btn primary', id: 'room-admit' }, t('room_admit'));
    admit.addEventListener('click', () => {
      admit.disabled = true;
      const offError = signaling.on('error', (m) => {
        offError();
        admit.disabled = false;
        announce(t(`room_error_${m.code}`) !== `room_error_${m.code}` ? t(`room_error_${m.code}`) : t('room_failed'), 'error');
      });
      setTimeout(offError, 5000);
      signaling.send({ type: 'admit' });
      replace(waitingLine);
      announce(t('room_admitted'));
    });
    replace(waitingLine, h('div', { class: 'notice warn room-patient' },
      h('p', {}, h('strong', {}, t('room_patient_waiting', { name: consult.patient_name }))), admit));
  };
  signaling.on('patient-waiting', (m) => {
    if (m.consult_id !== consult.id) return;
    // The patient's join moved a scheduled consult to waiting.
    if (consult.status === 'scheduled') onStatus('waiting');
    showWaiting();
  });
  // The patient entering the call confirms the admission (the server moved the consult to in_call).
  signaling.on('participant-joined', (m) => {
    if (m.participant?.role !== 'patient') return;
    replace(waitingLine);
    onStatus('in_call');
    pollNow();
  });

  const call = startCall({
    signaling,
    selfId: reply.participant_id,
    staff: true,
    participants: reply.participants,
    announce,
    confirmEnd: () => confirmDialog({
      title: t('call_end_confirm_title'), body: t('call_end_confirm_body'),
      yes: t('call_end_confirm_yes'), no: t('call_end_confirm_no'), danger: true,
    }),
    onFinished: (kind) => {
      replace(waitingLine);
      // Back to one column: the end notice above the facts and the note.
      document.body.classList.remove('in-call');
      layout.classList.remove('with-call');
      if (kind === 'ended') {
        onStatus('completed');
        pollNow();
      }
    },
  });
  onLeave(() => call.leave(), 'call');
  replace(callArea, waitingLine, call.view.el);
  call.view.el.querySelector('.call-title')?.setAttribute('tabindex', '-1');
  call.view.el.querySelector('.call-title')?.focus();
}

/** No room protocol on this server: the honest message and the old REST admit. */
function unavailable(consult, onStatus) {
  const box = h('div', { class: 'notice warn' }, h('p', {}, t('room_unavailable')));
  if (consult.status === 'waiting') {
    const admit = h('button', { type: 'button', class: 'btn primary' }, t('admit'));
    admit.addEventListener('click', async () => {
      try {
        await post(`/consults/${consult.id}/status`, { status: 'in_call' });
        admit.remove();
        onStatus('in_call');
        announce(t('admitted'));
        pollNow();
      } catch (err) {
        box.append(errorBox(err));
      }
    });
    box.append(h('p', { class: 'hint' }, t('admit_note')), admit);
  }
  return box;
}
