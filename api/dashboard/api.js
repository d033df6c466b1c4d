// Talking to the citysense API: JSON GETs with the stored key, the live feed's URL, and the key
// itself (localStorage, this browser only).

const KEY_STORE = 'citysense.apiKey';

export function storedKey() {
  try { return localStorage.getItem(KEY_STORE) ?? ''; } catch { return ''; }
}

export function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORE, key); else localStorage.removeItem(KEY_STORE);
  } catch { /* storage disabled: the key lives until the page is closed */ }
  memoryKey = key;
}

let memoryKey = null;
function currentKey() { return memoryKey ?? storedKey(); }

export class ApiError extends Error {
  constructor(status, detail) {
    super(status ? `HTTP ${status}${detail ? `: ${detail}` : ''}` : `network error${detail ? `: ${detail}` : ''}`);
    this.status = status;
    this.detail = detail;
  }
}

/** A URL of this API, relative to the page (so the dashboard also works behind a path prefix). */
export function apiURL(path, params = {}) {
  const url = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(params)) {
    if (v == null) continue;
    for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(item));
  }
  return url;
}

// A page load asks for a dozen answers at once; without a key they count against the per-address
// rate (CITYSENSE_API_PUBLIC_RATE), which several tabs behind one address, or a reload, can exceed.
// A 429 is a "later", not a failure: wait what Retry-After says (within bounds) and ask again.
const RETRIES_429 = 4;
const MAX_WAIT_S = 30;

function retryDelayMs(res, attempt) {
  const said = Number.parseFloat(res.headers.get('Retry-After') ?? '');
  const base = Number.isFinite(said) && said >= 0 ? Math.min(said, MAX_WAIT_S) : 2 ** attempt;
  return base * 1000 + Math.random() * 500; // spread the retries of one page's requests
}

/** A GET with the stored key, waited for and repeated on 429; ApiError(0) when there is no answer. */
async function get(path, params, headers) {
  const key = currentKey();
  if (key) headers['X-API-Key'] = key;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await fetch(apiURL(path, params), { headers, cache: 'no-store' });
    } catch (err) {
      throw new ApiError(0, err?.message ?? '');
    }
    if (res.status !== 429 || attempt >= RETRIES_429) return res;
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs(res, attempt)));
  }
}

/** GET a JSON document; ApiError with the HTTP status (0: no answer) when it fails. */
export async function getJSON(path, params = {}) {
  const res = await get(path, params, { Accept: 'application/json' });
  if (!res.ok) {
    let detail = '';
    try { detail = (await res.json()).detail ?? ''; } catch { /* not JSON */ }
    throw new ApiError(res.status, typeof detail === 'string' ? detail : JSON.stringify(detail));
  }
  return res.json();
}

/** GET a download (with the stored key, which a plain link could not send): {blob, filename}. */
export async function getFile(path, params = {}) {
  const res = await get(path, params, {});
  if (!res.ok) throw new ApiError(res.status, '');
  const filename = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? 'citysense.csv';
  return { blob: await res.blob(), filename };
}

/** The live feed (Server-Sent Events); EventSource cannot send headers, so the key goes in api_key. */
export function liveURL() {
  const key = currentKey();
  return apiURL('api/v1/live/sse', key ? { api_key: key } : {});
}

/** The HTTP status the live feed answers now (EventSource does not tell); 0 when there is no answer. */
export async function liveStatus() {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const res = await fetch(liveURL(), { signal: ctl.signal, cache: 'no-store' });
    return res.status;
  } catch {
    return 0;
  } finally {
    clearTimeout(timer);
    ctl.abort(); // we only wanted the status line, not the stream
  }
}
