// The API key form: shown on demand or after a 401; a new or forgotten key restarts the page.

import { storedKey, storeKey } from './api.js';
import { h } from './charts.js';
import { t } from './i18n.js';
import { $, state } from './page.js';

export function setupKeyForm(restart) {
  $('#key-input').value = storedKey();
  $('#key-button').addEventListener('click', () => {
    $('#auth').hidden = !$('#auth').hidden;
    if (!$('#auth').hidden) {
      if (!state.authNeeded) {
        $('#auth-message').replaceChildren(h('strong', { text: t('key.title') }), ' ', t('key.optional'));
      }
      $('#key-input').focus();
    }
  });
  $('#key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    storeKey($('#key-input').value.trim());
    restart();
  });
  $('#key-forget').addEventListener('click', () => {
    storeKey('');
    $('#key-input').value = '';
    restart();
  });
}
