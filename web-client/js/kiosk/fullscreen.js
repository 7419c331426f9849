// The "Pantalla completa" button: the Fullscreen API, toggled by one tap.
// Hidden where the browser has no Fullscreen API (some tablets).

import { h } from '../dom.js';
import { t } from '../i18n.js';

export function fullscreenButton() {
  const btn = h('button', { type: 'button', class: 'btn k-tool', 'aria-pressed': 'false' }, t('kiosk_fullscreen'));
  if (!document.fullscreenEnabled) btn.hidden = true;
  const sync = () => {
    const on = Boolean(document.fullscreenElement);
    btn.setAttribute('aria-pressed', String(on));
    btn.textContent = on ? t('kiosk_fullscreen_exit') : t('kiosk_fullscreen');
  };
  btn.addEventListener('click', async () => {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await document.documentElement.requestFullscreen({ navigationUI: 'hide' });
    } catch {
      // Refused (e.g. not allowed by the browser policy): the kiosk still works.
    }
  });
  document.addEventListener('fullscreenchange', sync);
  return btn;
}
