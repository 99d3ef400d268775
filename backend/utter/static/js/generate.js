// /generate: choose a voice, type, submit; follow the task by polling; play, see and download the result.
// The running task's id lives in the URL (?task=) and sessionStorage, so a reload picks it up again.
import { ApiError, api, clearErrors, engineNames, formatDuration, formatSeconds, parseDate, showApiError, showChecks, showError } from "./api.js";
import { drawWaveform } from "./waveform.js";
import { showSubtitleLinks, showWords } from "./words.js";

const POLL_MS = 500;
const STORAGE_KEY = "utter.generation";
const FINISHED = new Set(["done", "failed", "cancelled"]);

const $ = (id) => document.getElementById(id);
const form = $("generate-form");
const voiceSelect = $("voice");
const dictionarySelect = $("dictionary");
const text = $("text");
const count = $("text-count");
const submit = $("generate-submit");
const maxChars = Number(form.dataset.maxChars);
const taskBox = $("task");
const taskStatus = $("task-status");
const taskElapsed = $("task-elapsed");
const taskProgress = $("task-progress");
const cancelButton = $("task-cancel");
const result = $("result");

let current = null; // the generation being followed
let pollTimer = 0;
let clockTimer = 0;

function characters(value) {
  return [...value].length;
}

function updateCount() {
  const used = characters(text.value);
  count.textContent = `${used} / ${maxChars}`;
  count.classList.toggle("over", used > maxChars);
}
text.addEventListener("input", updateCount);

// The expected wait for the typed text, from the engine's measured speed on this machine
// (/api/engine `expected_speed`: first audio, then seconds per character of text).
const waitHint = $("expected-wait");
function updateWait() {
  const perChar = Number(waitHint.dataset.secondsPerChar);
  const first = Number(waitHint.dataset.firstAudio);
  const used = characters(text.value);
  if (!waitHint.dataset.secondsPerChar || !Number.isFinite(perChar) || !used) {
    waitHint.hidden = true;
    return;
  }
  const total = first + used * perChar;
  const rtf = Number(waitHint.dataset.rtf);
  const pace = rtf > 1 ? `; speech is made at ${(1 / rtf).toFixed(2)}× the pace it plays, so it plays while the rest is made` : "";
  waitHint.textContent = `Expected wait here: first audio in about ${formatDuration(first)}, all of it in about ${formatDuration(total)}${pace}.`;
  waitHint.hidden = false;
}
text.addEventListener("input", updateWait);

async function refreshSpeed() {
  try {
    const engine = await api("/api/engine");
    const speedNow = engine.expected_speed;
    if (speedNow) {
      waitHint.dataset.secondsPerChar = String(speedNow.seconds_per_char);
      waitHint.dataset.firstAudio = String(speedNow.first_audio_seconds);
      waitHint.dataset.rtf = String(speedNow.real_time_factor);
    }
  } catch {
    // the figures in the page stay
  }
  updateWait();
}

const speed = $("speed");
function updateSpeed() {
  const value = Number(speed.value);
  $("speed-value").textContent = `${value.toFixed(2)}×`;
  speed.setAttribute("aria-valuetext", value === 1 ? "normal speed" : `${value} times normal speed`);
}
speed.addEventListener("input", updateSpeed);

async function loadVoices(preselect) {
  let body;
  try {
    body = await api("/api/voices");
  } catch (err) {
    voiceSelect.replaceChildren(new Option("Voices could not be loaded", ""));
    showApiError(form, err);
    return;
  }
  const options = [new Option(body.voices.length ? "Choose a voice…" : "No voices yet", "")];
  for (const voice of body.voices) options.push(new Option(voice.name, voice.id)); // Option() sets text, never HTML
  voiceSelect.replaceChildren(...options);
  $("no-voices").hidden = body.voices.length > 0;
  if (preselect && body.voices.some((v) => v.id === preselect)) voiceSelect.value = preselect;
  else if (body.voices.length === 1) voiceSelect.value = body.voices[0].id;
}

function setBusy(busy) {
  submit.disabled = busy;
  submit.textContent = busy ? "Generating…" : "Generate";
}

function remember(generation) {
  const url = new URL(window.location.href);
  url.searchParams.set("task", generation.id);
  url.searchParams.delete("voice");
  window.history.replaceState(null, "", url);
  if (FINISHED.has(generation.status)) sessionStorage.removeItem(STORAGE_KEY);
  else sessionStorage.setItem(STORAGE_KEY, generation.id);
}

function elapsedSeconds(generation) {
  const start = parseDate(generation.created_at).getTime();
  const end = generation.finished_at ? parseDate(generation.finished_at).getTime() : Date.now();
  return Math.max(0, (end - start) / 1000);
}

function renderClock() {
  if (!current) return;
  const seconds = elapsedSeconds(current);
  taskElapsed.textContent = seconds < 60 ? `${Math.floor(seconds)} s` : formatSeconds(seconds);
}

function runningText(g) {
  // Long text is spoken in chunks: say which, so the wait makes sense ("3 of 12").
  if (g.chunks_total > 1) return `Generating… ${g.chunks_done} of ${g.chunks_total} parts done.`;
  return "Generating…";
}

const statusText = {
  queued: () => "Queued — waiting for a free worker.",
  running: runningText,
  done: (g) => `Done. ${formatDuration(g.duration_seconds)} of speech.`,
  failed: (g) => `Failed: ${g.error ? g.error.message : "the engine reported an error."}`,
  cancelled: () => "Cancelled.",
};

function render(generation) {
  const previous = current && current.status;
  current = generation;
  taskBox.hidden = false;
  taskBox.dataset.status = generation.status;
  taskBox.dataset.generationId = generation.id;
  $("task-title").textContent = FINISHED.has(generation.status) ? "Last generation" : "Generating";
  const message = (statusText[generation.status] || (() => generation.status))(generation);
  if (previous !== generation.status || taskStatus.textContent !== message) taskStatus.textContent = message;
  taskProgress.value = generation.status === "done" ? 1 : generation.progress || 0;
  cancelButton.hidden = FINISHED.has(generation.status);
  renderClock();
  if (generation.status === "running" && generation.stream_ready) startLive(generation);
  if (generation.status === "done") showResult(generation);
  else if (FINISHED.has(generation.status)) stopLive();
}

// The speech can be heard while the rest is spoken: the stream URL sends the audio as soon as
// it is stored (the first second of it, then second by second) until the whole text is done.
function startLive(generation) {
  const live = $("live");
  const audio = $("live-audio");
  if (audio.dataset.generationId === generation.id) return;
  audio.dataset.generationId = generation.id;
  audio.src = generation.stream_url;
  live.hidden = false;
  audio.play().catch(() => {
    // Autoplay refused (no recent click, e.g. after a reload): the controls are there to press.
  });
}

function liveIsPlaying() {
  const audio = $("live-audio");
  return Boolean(audio.dataset.generationId) && !audio.paused && !audio.ended;
}

function stopLive() {
  const audio = $("live-audio");
  audio.pause();
  audio.removeAttribute("src");
  delete audio.dataset.generationId;
  audio.load();
  $("live").hidden = true;
}

async function showResult(generation) {
  if (liveIsPlaying()) {
    // Someone is listening to the live stream: let it play to the end, then tidy up.
    $("task-title").textContent = "Playing";
    $("live-audio").addEventListener("ended", () => { stopLive(); taskBox.hidden = true; }, { once: true });
  } else {
    stopLive();
    taskBox.hidden = true;
  }
  setBusy(false);
  const notice = $("result-notice");
  notice.hidden = !generation.notice;
  notice.textContent = generation.notice || "";
  const parts = [generation.voice_name, formatDuration(generation.duration_seconds)];
  if (generation.speed !== 1) parts.push(`${generation.speed}× speed`);
  if (generation.engine) parts.push(`spoken by ${engineNames[generation.engine] || generation.engine}`);
  $("result-meta").textContent = parts.join(" · ");
  showChecks($("result-checks"), generation.checks);
  const audio = $("result-audio");
  audio.src = generation.audio_url;
  showWords($("result-text"), audio, generation);
  $("result-download").href = generation.download_url;
  showSubtitleLinks($("result-subtitles"), generation);
  result.hidden = false;
  result.dataset.generationId = generation.id;
  result.focus();
  const canvas = $("result-waveform");
  canvas.hidden = false;
  try {
    await drawWaveform(canvas, generation.audio_url, audio);
  } catch {
    // The player still works; only the picture is missing (e.g. storage without CORS).
    canvas.hidden = true;
  }
}

async function poll() {
  if (!current || FINISHED.has(current.status)) return;
  try {
    const generation = await api(current.status_url);
    remember(generation);
    render(generation);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      taskStatus.textContent = "This generation no longer exists (it was deleted).";
      sessionStorage.removeItem(STORAGE_KEY);
      cancelButton.hidden = true;
      setBusy(false);
      current = null;
      return;
    }
    taskStatus.textContent = "Lost contact with the server; still trying…";
  }
  if (current && !FINISHED.has(current.status)) pollTimer = setTimeout(poll, POLL_MS);
  else finish();
}

function finish() {
  clearInterval(clockTimer);
  clearTimeout(pollTimer);
  if (current && current.status !== "done") setBusy(false);
}

function follow(generation) {
  clearTimeout(pollTimer);
  clearInterval(clockTimer);
  result.hidden = true;
  if ($("live-audio").dataset.generationId !== generation.id) stopLive();
  remember(generation);
  render(generation);
  if (!FINISHED.has(generation.status)) {
    setBusy(true);
    clockTimer = setInterval(renderClock, 250);
    pollTimer = setTimeout(poll, POLL_MS);
  } else {
    finish();
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  let firstInvalid = null;
  if (!voiceSelect.value) firstInvalid = showError(form, "voice_id", "Choose a voice.");
  const value = text.value.trim();
  if (!value) firstInvalid = firstInvalid || showError(form, "text", "Type something to say.");
  else if (characters(value) > maxChars) {
    firstInvalid = firstInvalid || showError(form, "text", `The text is ${characters(value)} characters long; the limit is ${maxChars}.`);
  }
  if (firstInvalid) {
    firstInvalid.focus();
    return;
  }
  setBusy(true);
  try {
    const generation = await api("/api/generate", {
      method: "POST",
      json: {
        voice_id: voiceSelect.value, text: value, language: form.elements.language.value, speed: Number(speed.value),
        pronunciation_dictionary_ids: dictionarySelect.value ? [dictionarySelect.value] : [],
      },
    });
    follow(generation);
    taskBox.scrollIntoView({ block: "nearest" });
  } catch (err) {
    setBusy(false);
    const control = showApiError(form, err);
    if (control) control.focus();
  }
});

cancelButton.addEventListener("click", async () => {
  if (!current) return;
  cancelButton.disabled = true;
  try {
    follow(await api(`/api/generations/${current.id}/cancel`, { method: "POST" }));
  } catch (err) {
    // 409: it finished first; the next poll shows how.
    if (!(err instanceof ApiError && err.status === 409)) taskStatus.textContent = err.message;
  } finally {
    cancelButton.disabled = false;
  }
});

async function start() {
  const params = new URLSearchParams(window.location.search);
  const taskId = params.get("task") || sessionStorage.getItem(STORAGE_KEY);
  let generation = null;
  if (taskId) {
    try {
      generation = await api(`/api/generations/${encodeURIComponent(taskId)}`);
    } catch {
      sessionStorage.removeItem(STORAGE_KEY);
    }
  }
  await Promise.all([loadVoices(params.get("voice") || (generation && generation.voice_id)), loadDictionaries()]);
  updateCount();
  refreshSpeed();
  if (generation) {
    text.value = generation.text;
    updateCount();
    updateWait();
    if ([...form.elements.language.options].some((o) => o.value === generation.language)) {
      form.elements.language.value = generation.language;
    }
    speed.value = String(generation.speed);
    updateSpeed();
    follow(generation);
  }
  form.dataset.ready = "true";
}

// Dictionaries a text may name for itself (the voice's default applies anyway).
async function loadDictionaries() {
  try {
    const { dictionaries } = await api("/api/pronunciation-dictionaries");
    dictionarySelect.append(...dictionaries.map((d) => new Option(`${d.name} (${d.rules_count} rule${d.rules_count === 1 ? "" : "s"})`, d.id)));
  } catch {
    // Speech works without one; the list is only a convenience here.
  }
}

start();
