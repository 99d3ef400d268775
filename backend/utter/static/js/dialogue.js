// /dialogue: a script of "Name: line" lines, a voice per speaker, one generation; play it as the
// lines finish, see where each line is, and speak one line again as a new take (the earlier one
// stays in the history). ?id= opens a dialogue (the history links here).
import { ApiError, api, clearErrors, engineNames, formatDuration, showApiError, showError } from "./api.js";
import { showSubtitleLinks } from "./words.js";

const POLL_MS = 500;
const FINISHED = new Set(["done", "failed", "cancelled"]);
// "Name: words": a name is short and has no colon; anything else goes on with the speaker before.
const SPEAKER_LINE = /^\s*([^:<>]{1,60}?)\s*:\s*(.*)$/;

const $ = (id) => document.getElementById(id);
const form = $("dialogue-form");
const script = $("script");
const speakersList = $("speakers");
const submit = $("dialogue-submit");
const maxChars = Number(form.dataset.maxChars);
const taskBox = $("task");
const result = $("result");
const resultAudio = $("result-audio");

let voices = [];
const chosen = new Map(); // speaker name -> voice id, kept while the script is edited
let current = null;
let pollTimer = 0;

/** The script's lines: [{speaker, text}], or {error} for text before any speaker. */
export function parseScript(value) {
  const lines = [];
  for (const row of value.split("\n")) {
    if (!row.trim()) continue;
    const match = SPEAKER_LINE.exec(row);
    if (match) lines.push({ speaker: match[1].trim(), text: match[2].trim() });
    else if (lines.length) lines[lines.length - 1].text = `${lines[lines.length - 1].text} ${row.trim()}`.trim();
    else return { lines, error: "Start the script with a speaker's name and a colon, as in “Ann: Hello.”" };
  }
  return { lines: lines.filter((line) => line.text) }; // "Ann:" with nothing after it says nothing
}

function speakers(lines) {
  return [...new Set(lines.map((line) => line.speaker))];
}

function voiceFor(name) {
  if (chosen.has(name)) return chosen.get(name);
  const same = voices.find((voice) => voice.name.toLowerCase() === name.toLowerCase());
  return same ? same.id : "";
}

function renderSpeakers() {
  const { lines } = parseScript(script.value);
  const names = speakers(lines);
  const used = [...script.value].length;
  $("script-count").textContent = `${used} / ${maxChars}`;
  $("script-count").classList.toggle("over", used > maxChars);
  $("speakers-empty").hidden = names.length > 0;
  const same = [...speakersList.children].map((item) => item.dataset.speaker);
  if (same.length === names.length && same.every((name, index) => name === names[index])) return;
  speakersList.replaceChildren(...names.map((name, index) => {
    const item = document.createElement("li");
    item.dataset.speaker = name;
    const label = document.createElement("label");
    label.htmlFor = `speaker-${index}`;
    label.textContent = name;
    const select = document.createElement("select");
    select.id = `speaker-${index}`;
    select.name = `speaker-${index}`;
    select.append(new Option("Choose a voice…", ""), ...voices.map((voice) => new Option(voice.name, voice.id)));
    select.value = voiceFor(name);
    select.addEventListener("change", () => chosen.set(name, select.value));
    item.append(label, select);
    return item;
  }));
}
script.addEventListener("input", renderSpeakers);

async function loadVoices() {
  try {
    voices = (await api("/api/voices")).voices;
  } catch (err) {
    showApiError(form, err);
  }
  $("no-voices").hidden = voices.length > 0;
}

function setBusy(busy) {
  submit.disabled = busy;
  submit.textContent = busy ? "Speaking…" : "Generate dialogue";
  for (const button of document.querySelectorAll(".line-respeak")) button.disabled = busy;
}

function place(line) {
  if (line.start == null) return "";
  return `${line.start.toFixed(1)}–${line.end.toFixed(1)} s`;
}

function renderTask(generation) {
  taskBox.hidden = FINISHED.has(generation.status) && generation.status === "done";
  const total = generation.chunks_total;
  const labels = { queued: "Waiting for a free worker…", cancelled: "Cancelled." };
  let text = labels[generation.status] || "";
  if (generation.status === "running") text = total ? `${generation.chunks_done} of ${total} parts spoken…` : "Starting…";
  if (generation.status === "failed") text = generation.error ? generation.error.message : "It failed.";
  $("task-status").textContent = text;
  $("task-progress").value = generation.progress;
  const live = $("live-audio");
  if (generation.stream_ready && generation.status === "running" && live.dataset.generationId !== generation.id) {
    live.dataset.generationId = generation.id;
    live.src = generation.stream_url;
    $("live").hidden = false;
    live.play().catch(() => {}); // autoplay may be refused; the controls are there
  }
}

function stopLive() {
  const live = $("live-audio");
  live.pause();
  live.removeAttribute("src");
  delete live.dataset.generationId;
  live.load();
  $("live").hidden = true;
}

function showResult(generation, message = "") {
  stopLive();
  taskBox.hidden = true;
  const notice = $("result-notice");
  notice.hidden = !generation.notice;
  notice.textContent = generation.notice || "";
  const parts = [formatDuration(generation.duration_seconds), `${generation.lines.length} lines`];
  if (generation.engine) parts.push(`spoken by ${engineNames[generation.engine] || generation.engine}`);
  if (message) parts.push(message);
  $("result-meta").textContent = parts.join(" · ");
  resultAudio.src = generation.audio_url;
  $("result-download").href = generation.download_url;
  showSubtitleLinks($("result-subtitles"), generation);
  const template = $("line-template");
  $("lines").replaceChildren(...generation.lines.map((line, index) => {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.start = line.start;
    item.dataset.end = line.end;
    item.querySelector(".line-speaker").textContent = line.voice_name;
    item.querySelector(".line-place").textContent = place(line);
    const play = item.querySelector(".line-play");
    play.textContent = "▶";
    play.setAttribute("aria-label", `Play line ${index + 1}`);
    play.addEventListener("click", () => {
      resultAudio.currentTime = line.start;
      resultAudio.play().catch(() => {});
    });
    const words = item.querySelector(".line-text");
    words.value = line.text;
    words.setAttribute("aria-label", `Words of line ${index + 1}`);
    const again = item.querySelector(".line-respeak");
    again.setAttribute("aria-label", `Speak line ${index + 1} again`);
    again.addEventListener("click", () => respeak(generation, index, words.value, item));
    return item;
  }));
  result.hidden = false;
  result.dataset.generationId = generation.id;
  setBusy(false);
}

// The line being heard is marked while the dialogue plays.
resultAudio.addEventListener("timeupdate", () => {
  const now = resultAudio.currentTime;
  for (const item of $("lines").children) {
    const playing = now >= Number(item.dataset.start) && now < Number(item.dataset.end) + 0.3;
    item.classList.toggle("playing", playing);
  }
});

async function respeak(generation, index, words, item) {
  const slot = item.querySelector(".line-error");
  slot.textContent = "";
  const changed = words.trim() !== generation.lines[index].text;
  setBusy(true);
  try {
    const take = await api(`/api/dialogue/${generation.id}/lines/${index}/respeak`, {
      method: "POST", json: changed ? { text: words } : {},
    });
    follow(take, `line ${index + 1} spoken again; the earlier take is in the history`);
  } catch (err) {
    setBusy(false);
    slot.textContent = err instanceof ApiError ? err.message : "Something went wrong. Try again.";
  }
}

async function poll(message) {
  try {
    current = await api(current.status_url);
  } catch (err) {
    $("task-status").textContent = err instanceof ApiError && err.status === 404
      ? "This dialogue no longer exists (it was deleted)." : "Lost contact with the server; still trying…";
    if (err instanceof ApiError && err.status === 404) return setBusy(false);
  }
  show(current, message);
}

function show(generation, message) {
  remember(generation);
  if (generation.status === "done") return showResult(generation, message);
  renderTask(generation);
  if (FINISHED.has(generation.status)) return setBusy(false);
  pollTimer = setTimeout(() => poll(message), POLL_MS);
}

function follow(generation, message = "") {
  clearTimeout(pollTimer);
  current = generation;
  taskBox.hidden = false;
  setBusy(true);
  show(generation, message);
}

function remember(generation) {
  const url = new URL(window.location.href);
  url.searchParams.set("id", generation.id);
  window.history.replaceState(null, "", url);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const { lines, error } = parseScript(script.value);
  if (error || !lines.length) {
    showError(form, "inputs", error || "Write at least one line, as in “Ann: Hello.”");
    script.focus();
    return;
  }
  const missing = [...speakersList.querySelectorAll("select")].find((select) => !select.value);
  if (missing) {
    showError(form, "speakers", `Choose a voice for ${missing.closest("li").dataset.speaker}.`);
    missing.focus();
    return;
  }
  const inputs = lines.map((line) => ({ voice_id: voiceFor(line.speaker), text: line.text }));
  setBusy(true);
  try {
    const generation = await api("/api/dialogue", {
      method: "POST", json: { inputs, language: form.elements.language.value },
    });
    result.hidden = true;
    follow(generation);
  } catch (err) {
    setBusy(false);
    const control = showApiError(form, err);
    if (control) control.focus();
  }
});

async function start() {
  await loadVoices();
  const id = new URLSearchParams(window.location.search).get("id");
  if (id) {
    try {
      const generation = await api(`/api/generations/${encodeURIComponent(id)}`);
      if (generation.lines) {
        generation.lines.forEach((line) => chosen.set(line.voice_name, line.voice_id || ""));
        script.value = generation.lines.map((line) => `${line.voice_name}: ${line.text}`).join("\n");
        follow(generation);
      }
    } catch {
      // A dialogue deleted since: start with an empty script.
    }
  }
  renderSpeakers();
  form.dataset.ready = "true";
}

start();
