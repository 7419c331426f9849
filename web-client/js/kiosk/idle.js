// Inactivity on a patient screen: after `seconds` without touch, click, key
// or typing, `onTimeout` runs (the kiosk goes back to the list and forgets
// the patient). In the last 20 s (or the last half, for shorter limits) a
// visible countdown offers to stay; it covers the bottom of the screen, so it
// must not be up while someone is still working there.

import { h, replace } from '../dom.js';
import { t } from '../i18n.js';

const WARN_SECONDS = 20;
const EVENTS = ['pointerdown', 'keydown', 'input', 'wheel', 'touchstart'];

/** Seconds of inactivity allowed: `?idle=<s>` in the URL, else 120. */
export function idleSeconds() {
  const n = Number(new URLSearchParams(location.search).get('idle'));
  return Number.isFinite(n) && n >= 1 ? Math.min(n, 3600) : 120;
}

export function createIdleTimer(seconds, onTimeout) {
  const warnSeconds = Math.min(WARN_SECONDS, Math.floor(seconds / 2));
  const box = document.getElementById('idle-warning');
  let deadline = 0;
  let ticker = null;
  let warning = false;

  const activity = () => {
    if (!ticker) return;
    deadline = Date.now() + seconds * 1000;
    if (warning) hideWarning();
  };

  function showWarning(left) {
    if (!warning) {
      warning = true;
      replace(box,
        h('p', { class: 'k-idle-text' }, t('kiosk_idle_warning'), ' ', h('strong', { class: 'k-idle-count' }, t('kiosk_idle_seconds', { n: left }))),
        h('button', { type: 'button', class: 'btn primary k-big' }, t('kiosk_idle_stay')));
      box.hidden = false;
    } else {
      box.querySelector('.k-idle-count').textContent = t('kiosk_idle_seconds', { n: left });
    }
  }

  function hideWarning() {
    warning = false;
    box.hidden = true;
    replace(box);
  }

  function tick() {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) {
      stop();
      onTimeout();
    } else if (left <= warnSeconds) {
      showWarning(left);
    }
  }

  function start() {
    stop();
    deadline = Date.now() + seconds * 1000;
    ticker = setInterval(tick, 250);
    for (const e of EVENTS) document.addEventListener(e, activity, { capture: true, passive: true });
  }

  function stop() {
    if (ticker) clearInterval(ticker);
    ticker = null;
    for (const e of EVENTS) document.removeEventListener(e, activity, { capture: true });
    hideWarning();
  }

  return { start, stop };
}
