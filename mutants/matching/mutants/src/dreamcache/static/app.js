// dreamcache web page: suggestions while typing, generate (cache hit or job with live progress), gallery, stats.
const $ = (id) => document.getElementById(id);
const form = $('gen'), prompt = $('prompt'), list = $('suggestions'), go = $('go');
const progress = $('progress'), statusLine = $('status'), errorBox = $('error');
const NUMBER_FIELDS = ['width', 'height', 'num_inference_steps', 'guidance_scale', 'seed', 'n'];

class ApiError extends Error {
  constructor(status, body) {
    const e = body?.error ?? {};
    super(e.message || `the server answered ${status}`);
    Object.assign(this, { status, type: e.type, field: e.field });
  }
}

// With API keys on the server, the page sends the key typed in its settings (kept in this browser only).
const apiKey = $('api_key');
apiKey.value = localStorage.getItem('dreamcache-key') ?? '';
apiKey.addEventListener('change', () => localStorage.setItem('dreamcache-key', apiKey.value.trim()));

async function api(path, options = {}) {
  let res;
  const key = apiKey.value.trim();
  if (key) options = { ...options, headers: { ...(options.headers ?? {}), Authorization: `Bearer ${key}` } };
  try {
    res = await fetch(path, options);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new Error('could not reach the server (is it running?)');
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const error = new ApiError(res.status, body);
    const retry = res.headers.get('Retry-After');
    if ((res.status === 429 || res.status === 503) && retry && !error.message.includes(retry)) {
      error.message += ` (retry in ${retry} s)`;
    }
    throw error;
  }
  return { status: res.status, headers: res.headers, body };
}

// --- messages ---------------------------------------------------------------------------------

function say(text) { statusLine.textContent = text; }

function clearError() {
  errorBox.hidden = true;
  errorBox.textContent = '';
  form.querySelectorAll('[aria-invalid]').forEach((el) => {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-errormessage');
  });
}

function showError(err, what = 'Request failed') {
  const status = err.status ? ` (${err.status})` : '';
  errorBox.textContent = `${what}${status}: ${err.message}`;
  errorBox.hidden = false;
  const input = err.field && form.elements.namedItem(err.field);
  if (input instanceof HTMLElement) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-errormessage', 'error');
    input.focus();
  }
  say('');
}

// --- suggestions (combobox with a listbox; focus stays in the input, aria-activedescendant moves) --------------

let active = -1, suggestSeq = 0, suggestTimer = 0, suggestAbort = null;

function options() { return [...list.querySelectorAll('[role=option]')]; }

function closeList() {
  list.hidden = true;
  list.replaceChildren();
  active = -1;
  prompt.setAttribute('aria-expanded', 'false');
  prompt.removeAttribute('aria-activedescendant');
}

function setActive(index) {
  const opts = options();
  if (!opts.length) return;
  active = (index + opts.length) % opts.length;
  opts.forEach((o, i) => o.setAttribute('aria-selected', String(i === active)));
  prompt.setAttribute('aria-activedescendant', opts[active].id);
  opts[active].scrollIntoView({ block: 'nearest' });
}

function choose(text) {
  prompt.value = text;
  closeList();
  prompt.focus();
  say(`Prompt set to “${text}”.`);
}

function renderSuggestions(suggestions) {
  closeList();
  if (!suggestions.length) return;
  suggestions.forEach((s, i) => {
    const li = document.createElement('li');
    li.id = `suggestion-${i}`;
    li.setAttribute('role', 'option');
    li.setAttribute('aria-selected', 'false');
    li.dataset.prompt = s.prompt;
    if (s.thumbnail_url) {
      const img = document.createElement('img');
      img.src = s.thumbnail_url;
      img.alt = '';
      li.append(img);
    }
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = s.prompt;
    li.append(text);
    if (s.instant) li.append(badge('⚡ instant', 'instant'));
    if (s.hits) li.append(badge(`${s.hits} hit${s.hits === 1 ? '' : 's'}`, 'muted'));
    li.addEventListener('mousedown', (e) => e.preventDefault()); // keep focus in the input
    li.addEventListener('click', () => choose(s.prompt));
    list.append(li);
  });
  list.hidden = false;
  prompt.setAttribute('aria-expanded', 'true');
}

async function suggest(q) {
  const seq = ++suggestSeq;
  suggestAbort?.abort();
  suggestAbort = new AbortController();
  const params = new URLSearchParams({ q, limit: '8' });
  for (const side of ['width', 'height']) if (form.elements[side].value) params.set(side, form.elements[side].value);
  try {
    const { body } = await api(`/recommend?${params}`, { signal: suggestAbort.signal });
    if (seq === suggestSeq && document.activeElement === prompt) renderSuggestions(body.suggestions ?? []);
  } catch (err) {
    if (err.name !== 'AbortError' && seq === suggestSeq) say(`Suggestions unavailable: ${err.message}`);
  }
}

prompt.addEventListener('input', () => {
  clearTimeout(suggestTimer);
  const q = prompt.value;
  if (!q.trim()) { suggestSeq++; closeList(); return; }
  suggestTimer = setTimeout(() => suggest(q), 120);
});

prompt.addEventListener('keydown', (e) => {
  const open = !list.hidden;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    if (!open) { if (prompt.value.trim()) suggest(prompt.value); return; }
    e.preventDefault();
    setActive(active < 0 && e.key === 'ArrowUp' ? -1 : active + (e.key === 'ArrowDown' ? 1 : -1));
  } else if (e.key === 'Enter' && open && active >= 0) {
    e.preventDefault();
    choose(options()[active].dataset.prompt);
  } else if (e.key === 'Escape' && open) {
    e.preventDefault();
    closeList();
  }
});

prompt.addEventListener('blur', () => setTimeout(closeList, 100));

// --- generation -------------------------------------------------------------------------------

function badge(text, kind) {
  const span = document.createElement('span');
  span.className = `badge ${kind}`;
  span.textContent = text;
  return span;
}

function seconds(ms) { return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`; }

// One card for every picture the page shows: image (click: full size), prompt, then `extra` nodes.
function imageCard(image, className, asked, ...extra) {
  const figure = document.createElement('figure');
  figure.className = className;
  const img = document.createElement('img');
  img.src = image.url;
  img.alt = image.prompt;
  img.width = image.width;
  img.height = image.height;
  img.addEventListener('click', () => openViewer(image, asked ?? image.prompt));
  const caption = document.createElement('figcaption');
  const text = document.createElement('span');
  text.className = 'prompt';
  text.textContent = image.prompt;
  caption.append(text, ...extra);
  figure.append(img, caption);
  return figure;
}

function addToGallery(result, asked = null) {
  const adopted = result.source === 'related';
  for (const image of [...result.images].reverse()) {
    // An answer of several pictures can mix cached and generated ones: each says where it came from.
    const hit = (image.source ?? result.source) === 'cache';
    const meta = document.createElement('span');
    meta.className = 'meta';
    const took = seconds(result.timings.total_ms);
    if (adopted) meta.append(badge('related, taken instead', 'muted'), ` similarity ${image.similarity.toFixed(3)}`);
    else if (hit && result.source !== 'cache') meta.append(badge('⚡ cache hit', 'instant'), ` similarity ${image.similarity.toFixed(3)}`); // the time is the generation's
    else if (hit) meta.append(badge('⚡ cache hit', 'instant'), ` similarity ${image.similarity.toFixed(3)} · ${took}`);
    else meta.append(badge('generated', 'muted'), ` in ${took}`);
    meta.append(` · ${image.width}×${image.height}, ${image.num_inference_steps} steps, seed ${image.seed}`);
    const kind = adopted ? 'card adopted' : hit ? 'card hit' : 'card generated';
    $('gallery').prepend(imageCard(image, kind, asked, meta));
  }
  $('empty').hidden = true;
}

// --- the cache, browsable from the first load -------------------------------------------------

const browse = { sort: 'recent', offset: 0, limit: 12 };

function browseCard(image) {
  return imageCard(image, 'card cached', null);
}

async function loadBrowse(reset = false) {
  if (reset) { browse.offset = 0; $('browse').replaceChildren(); }
  try {
    const q = new URLSearchParams({ sort: browse.sort, limit: browse.limit, offset: browse.offset });
    const { body } = await api(`/gallery?${q}`);
    for (const image of body.images) $('browse').append(browseCard(image));
    browse.offset += body.images.length;
    $('browse-more').hidden = !body.more;
    $('browse-empty').hidden = browse.offset > 0;
  } catch {
    $('browse-empty').hidden = false;
  }
}

for (const sort of ['recent', 'popular']) {
  $(`sort-${sort}`).addEventListener('click', () => {
    browse.sort = sort;
    $('sort-recent').setAttribute('aria-pressed', String(sort === 'recent'));
    $('sort-popular').setAttribute('aria-pressed', String(sort === 'popular'));
    loadBrowse(true);
  });
}
$('browse-more').addEventListener('click', () => loadBrowse());
loadBrowse(true);

// --- a picture full size: prompt, settings, download, report ----------------------------------

let viewing = null;

function openViewer(image, askedFor) {
  viewing = { image, askedFor };
  $('viewer-img').src = image.url;
  $('viewer-img').alt = image.prompt;
  $('viewer-prompt').textContent = image.prompt;
  const negative = image.negative_prompt ? `, not: ${image.negative_prompt}` : '';
  $('viewer-meta').textContent = `${image.width}×${image.height}, ${image.num_inference_steps} steps, guidance ` +
    `${image.guidance_scale}, seed ${image.seed}${negative}`;
  $('viewer-download').href = image.url;
  $('viewer-download').setAttribute('download', `${image.id}.png`);
  $('viewer-status').textContent = '';
  $('viewer').showModal();
}

$('viewer-close').addEventListener('click', () => $('viewer').close());
$('viewer-report').addEventListener('click', async () => {
  if (!viewing) return;
  try {
    await api(`/images/${encodeURIComponent(viewing.image.id)}/report`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: viewing.askedFor }),
    });
    $('viewer-status').textContent = 'Reported: this picture will not be served for this prompt again.';
  } catch (err) {
    $('viewer-status').textContent = `Could not report it: ${err.message}`;
  }
});

function requestBody() {
  const body = { prompt: form.elements.prompt.value };
  const negative = form.elements.negative_prompt.value;
  if (negative) body.negative_prompt = negative;
  for (const name of NUMBER_FIELDS) {
    const input = form.elements[name];
    const raw = input.value.trim();
    if (raw !== '') body[name] = Number(raw);
    else if (input.validity.badInput) body[name] = input.value; // let the server name the problem
  }
  return body;
}

function showProgress(job) {
  const { step, total } = job.progress;
  progress.hidden = false;
  progress.max = total || 1;
  progress.value = step;
  if (job.status === 'queued') say(`Queued${job.queue_position != null ? ` (position ${job.queue_position + 1})` : ''}…`);
  else if (job.status === 'running') say(`Generating: step ${step} of ${total}`);
}

// --- related pictures while a miss generates ----------------------------------------------------

let adoptedJob = null;

async function showRelated(job) {
  const box = $('related');
  try {
    const { body } = await api(`/jobs/${encodeURIComponent(job.job_id)}/related`);
    $('related-list').replaceChildren(...body.images.map((image) => relatedCard(job, image)));
    box.hidden = body.images.length === 0;
  } catch {
    box.hidden = true;
  }
}

function relatedCard(job, image) {
  const use = document.createElement('button');
  use.type = 'button';
  use.className = 'small';
  use.textContent = 'Use this one';
  use.addEventListener('click', async () => {
    try {
      adoptedJob = job.job_id;
      const { body } = await api(`/jobs/${encodeURIComponent(job.job_id)}/adopt`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ image_id: image.id }),
      });
      $('related').hidden = true;
      progress.hidden = true;
      addToGallery({ source: 'related', images: [{ ...body.adopted, similarity: image.similarity }],
        timings: { total_ms: 0 } }, form.elements.prompt.value);
      say('Took a related picture: your generation was stopped.');
    } catch (err) {
      adoptedJob = null;
      showError(err, 'Could not take that picture');
    }
  });
  return imageCard(image, 'card related', null, use);
}

function finishJob(job) {
  progress.hidden = true;
  $('related').hidden = true;
  if (job.job_id === adoptedJob && job.status === 'canceled') return; // the user took a related picture
  if (job.status === 'succeeded') {
    addToGallery(job.result);
    const cached = job.result.images.filter((image) => image.source === 'cache').length;
    const made = job.result.images.length - cached;
    const what = cached ? `${cached} from the cache, ${made} generated` : made > 1 ? `${made} pictures generated` : 'Generated';
    say(`${what} in ${seconds(job.result.timings.total_ms)}.`);
  } else if (job.status === 'failed') {
    showError({ message: job.error?.message ?? 'unknown error', type: job.error?.type }, 'Generation failed');
  } else {
    say(`Job ${job.status}.`);
  }
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

function followJob(job) {
  return new Promise((resolve) => {
    if (TERMINAL.has(job.status)) { finishJob(job); resolve(); return; }
    showProgress(job);
    showRelated(job);
    if (apiKey.value.trim()) { resolve(pollJob(job)); return; } // EventSource cannot send a key
    const events = new EventSource(`/jobs/${encodeURIComponent(job.job_id)}/events`);
    const onEvent = (e) => {
      const view = JSON.parse(e.data);
      if (TERMINAL.has(view.status)) { events.close(); finishJob(view); resolve(); } else showProgress(view);
    };
    events.addEventListener('status', onEvent);
    events.addEventListener('progress', onEvent);
    events.onerror = async () => {
      if (events.readyState !== EventSource.CLOSED) return; // the browser reconnects by itself
      try {
        const { body } = await api(`/jobs/${encodeURIComponent(job.job_id)}`);
        resolve(followJob(body));
      } catch (err) {
        progress.hidden = true;
        showError(err, 'Lost track of the job');
        resolve();
      }
    };
  });
}

async function pollJob(job) {
  try {
    while (!TERMINAL.has(job.status)) {
      await new Promise((r) => setTimeout(r, 400));
      ({ body: job } = await api(`/jobs/${encodeURIComponent(job.job_id)}`));
      if (!TERMINAL.has(job.status)) showProgress(job);
    }
    finishJob(job);
  } catch (err) {
    progress.hidden = true;
    showError(err, 'Lost track of the job');
  }
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  closeList();
  clearError();
  go.disabled = true;
  say('Looking in the cache…');
  try {
    const { status, body } = await api('/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json', Prefer: 'respond-async' },
      body: JSON.stringify(requestBody()),
    });
    if (status === 202) {
      await followJob(body);
    } else {
      addToGallery(body, form.elements.prompt.value);
      say(body.source === 'cache' ? `Cache hit: answered in ${seconds(body.timings.total_ms)}.` : 'Generated.');
    }
  } catch (err) {
    progress.hidden = true;
    showError(err);
  } finally {
    go.disabled = false;
    refreshStats();
    loadBrowse(true);
  }
});

form.addEventListener('input', (e) => {
  if (e.target.hasAttribute('aria-invalid')) clearError();
});

// --- stats ------------------------------------------------------------------------------------

let defaultsShown = false;

async function refreshStats() {
  try {
    const { body: s } = await api('/stats');
    $('stat-ratio').textContent = `${(s.hit_ratio * 100).toFixed(0)} %`;
    $('stat-counts').textContent = `${s.hits} / ${s.misses}`;
    $('stat-saved').textContent = `${s.gpu_seconds_saved.toFixed(1)} s`;
    $('stat-queue').textContent = String(s.queue_depth);
    const w = s.warm_up;
    $('stat-warm').parentElement.hidden = !w || w.done >= w.total;
    if (w) $('stat-warm').textContent = `${w.done} / ${w.total}`;
    if (!defaultsShown && s.defaults) {
      for (const [name, value] of Object.entries(s.defaults)) form.elements[name]?.setAttribute('placeholder', value);
      defaultsShown = true;
    }
  } catch {
    $('stat-ratio').textContent = 'offline';
  }
}

refreshStats();
setInterval(refreshStats, 2000);
