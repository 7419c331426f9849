// The login form. Errors are said in plain Spanish: wrong credentials, too
// many attempts, no connection.

import { post } from '../api.js';
import { h, replace, field } from '../dom.js';
import { t } from '../i18n.js';
import { errorText } from './ui.js';

export function showLogin(main, message, onSignedIn) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, inputmode: 'email' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn primary block' }, t('login_submit'));
  const form = h('form', { class: 'card login', novalidate: true },
    h('h1', {}, t('login_title')),
    h('p', { class: 'hint' }, t('login_intro')),
    message ? h('p', { class: 'notice' }, message) : null,
    field(t('login_email'), email),
    field(t('login_password'), password),
    error,
    submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(error);
    if (!email.value.trim() || !password.value) {
      replace(error, h('p', { class: 'notice error', role: 'alert' }, t('login_missing')));
      return;
    }
    submit.disabled = true;
    submit.textContent = t('login_busy');
    try {
      const me = await post('/auth/login', { email: email.value.trim(), password: password.value });
      onSignedIn(me);
    } catch (err) {
      replace(error, h('p', { class: 'notice error', role: 'alert' }, errorText(err)));
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = t('login_submit');
    }
  });
  replace(main, form);
  email.focus();
}
