// The citysense dashboard: wires the API to the page. No framework; see docs/dashboard.md.
// Each panel is a module of its own (*-panel.js); this one loads them in turn and keeps them fresh.

import { ApiError, storedKey } from './api.js';
import { h } from './charts.js';
import { setupDetail } from './detail-panel.js';
import { DISTRICTS, listOf } from './format.js';
import { lang, setLang, t, translatePage } from './i18n.js';
import { loadAir } from './air-panel.js';
import { loadBins } from './bins-panel.js';
import { loadEnergy } from './energy-panel.js';
import { loadHealth } from './health-panel.js';
import { setupKeyForm } from './key-panel.js';
import { renderLive, setLive, setupFilter, startLive, stopLive } from './live-panel.js';
import { loadMap, mapLegend, setupColourBy, setupSearch } from './map-panel.js';
import { loadMobility } from './mobility-panel.js';
import { $, fail, loadRegistry, state } from './page.js';
import { setupDownloads } from './policy.js';
import { SPARKS, loadSpark, sparkCard } from './spark-panel.js';

const REFRESH = { map: 60_000, sparks: 60_000, policy: 600_000, registry: 300_000, health: 30_000 };

function restart() {
  state.authNeeded = false;
  document.documentElement.dataset.auth = storedKey() ? 'key' : 'none';
  $('#auth').hidden = true;
  state.rows.clear();
  renderLive();
  loadAll();
}

async function loadPolicy() {
  await Promise.all([loadMobility(), loadEnergy(), loadAir(), loadBins()]);
}

// --- start ---------------------------------------------------------------------------------------

let timers = [];
let generation = 0; // a newer loadAll (a key entered meanwhile) supersedes an older one

async function loadAll() {
  const mine = ++generation;
  for (const t of timers) clearInterval(t);
  timers = [];
  stopLive();
  document.documentElement.dataset.ready = 'false';
  try {
    await loadRegistry();
  } catch (err) {
    if (mine !== generation) return;
    for (const el of [$('#map-status'), ...SPARKS.map(sparkCard), $('#chart-bikes'), $('#chart-energy'), $('#chart-air'), $('#chart-bins'), $('#fleet-health')]) {
      fail(el, err);
    }
    if (!(err instanceof ApiError && err.status === 401)) {
      timers.push(setTimeout(loadAll, 10_000));
      setLive('offline', t('live.unreachable'));
    }
    document.documentElement.dataset.ready = 'true';
    return;
  }
  if (mine !== generation) return;
  startLive();
  // Health first: the map and the live table show it.
  await loadHealth();
  if (mine !== generation) return;
  await Promise.all([loadMap(), ...SPARKS.map(loadSpark), loadPolicy()]);
  if (mine !== generation) return;
  const every = (ms, f) => timers.push(setInterval(() => { if (!state.authNeeded) f(); }, ms));
  every(REFRESH.map, loadMap);
  every(REFRESH.sparks, () => SPARKS.forEach(loadSpark));
  every(REFRESH.policy, loadPolicy);
  every(REFRESH.health, loadHealth);
  every(REFRESH.registry, () => loadRegistry().catch(() => {})); // the next refresh tries again
  document.documentElement.dataset.ready = 'true';
}

function setupLang() {
  for (const b of document.querySelectorAll('#lang-switch [data-lang]')) {
    b.setAttribute('aria-pressed', String(b.dataset.lang === lang()));
    b.addEventListener('click', () => setLang(b.dataset.lang));
  }
}

function main() {
  document.documentElement.dataset.auth = storedKey() ? 'key' : 'none';
  translatePage();
  $('#page-sub').textContent = t('page.sub', { districts: listOf(DISTRICTS) });
  setupLang();
  setupKeyForm(restart);
  setupFilter();
  setupSearch();
  setupColourBy();
  setupDetail();
  setupDownloads();
  mapLegend();
  for (const cfg of SPARKS) sparkCard(cfg).replaceChildren(h('p', { class: 'empty', text: t('loading') }));
  loadAll();
}

main();
