// /design: describe a voice, hear a few candidates as they finish, keep one as a voice.
// The design being followed lives in the URL (?design=), so a reload shows it again.
import { ApiError, api, clearErrors, formatDuration, showApiError, showError } from "./api.js";
import { drawWaveform } from "./waveform.js";

const POLL_MS = 700;
const FINISHED = new Set(["done", "failed", "cancelled"]);

const $ = (id) => document.getElementById(id);
const form = $("design-form");
const description = $("description");
const count = $("description-count");
const submit = $("design-submit");
const maxDescription = Number(description.maxLength);
const results = $("design-results");
const statusLine = $("design-status");
const list = $("candidates-list");
const template = $("candidate-template");

let current = null; // the design being followed
let pollTimer = 0;
const items = new Map(); // preview id -> its <li>

function characters(value) {
  return [...value].length;
}

function updateCount() {
  const used = characters(description.value);
  count.textContent = `${used} / ${maxDescription}`;
  count.classList.toggle("over", used > maxDescription);
}
description.addEventListener("input", updateCount);

for (const button of form.querySelectorAll("button.example")) {
  button.addEventListener("click", () => {
    description.value = button.dataset.example;
    updateCount();
    description.focus();
  });
}

function setBusy(busy) {
  submit.disabled = busy;
  submit.textContent = busy ? "Designing…" : "Design voices";
}

function summary(design) {
  const previews = design.previews;
  const done = previews.filter((p) => p.status === "done").length;
  if (design.status === "running") {
    return `Designing ${previews.length} candidate${previews.length > 1 ? "s" : ""}… ${done} of ${previews.length} ready.`;
  }
  if (design.status === "failed") return "No candidate could be made. Try again, or change the description.";
  return `${done} of ${previews.length} candidate${previews.length > 1 ? "s" : ""} ready. Listen, then save the one you like.`;
}

function candidateItem(preview) {
  let item = items.get(preview.id);
  if (item) return item;
  item = template.content.firstElementChild.cloneNode(true);
  item.dataset.previewId = preview.id;
  item.querySelector(".number").textContent = String(preview.candidate);
  const canvas = item.querySelector("canvas");
  canvas.setAttribute("aria-label", `Waveform of candidate ${preview.candidate}`);
  const input = item.querySelector('input[name="name"]');
  input.id = `name-${preview.candidate}`;
  item.querySelector(".save-form").addEventListener("submit", (event) => save(event, preview, item));
  items.set(preview.id, item);
  list.append(item);
  return item;
}

async function renderPreview(preview) {
  const item = candidateItem(preview);
  const badge = item.querySelector(".badge");
  badge.dataset.status = preview.status;
  badge.textContent = preview.status;
  const error = item.querySelector(".error-text");
  error.hidden = !preview.error;
  error.textContent = preview.error ? preview.error.message : "";
  if (preview.voice_id) showSaved(item, preview.voice_id, null);
  if (preview.status !== "done" || item.dataset.loaded) return;
  item.dataset.loaded = "true";
  item.querySelector(".player").hidden = false;
  const audio = item.querySelector("audio");
  audio.src = preview.audio_url;
  audio.setAttribute("aria-label", `Candidate ${preview.candidate}, ${formatDuration(preview.duration_seconds)}`);
  const canvas = item.querySelector("canvas");
  try {
    await drawWaveform(canvas, preview.audio_url, audio);
  } catch {
    canvas.hidden = true; // the player still works; only the picture is missing
  }
}

function showSaved(item, voiceId, name) {
  item.querySelector(".save-form").hidden = true;
  const saved = item.querySelector(".saved");
  saved.hidden = false;
  item.querySelector(".saved-name").textContent = name || "a voice";
  item.querySelector(".saved-link").href = `/generate?voice=${encodeURIComponent(voiceId)}`;
}

async function save(event, preview, item) {
  event.preventDefault();
  const saveForm = event.currentTarget;
  clearErrors(saveForm);
  const input = saveForm.elements.name;
  const name = input.value.trim();
  if (!name) {
    showError(saveForm, "name", "Give the voice a name.");
    input.focus();
    return;
  }
  const button = saveForm.querySelector("button");
  button.disabled = true;
  try {
    const voice = await api(preview.save_url, { method: "POST", json: { name } });
    showSaved(item, voice.id, voice.name);
    item.querySelector(".saved-link").focus();
  } catch (err) {
    showApiError(saveForm, err);
    if (err instanceof ApiError && err.code === "preview_already_saved") saveForm.hidden = true;
    else input.focus();
  } finally {
    button.disabled = false;
  }
}

function render(design) {
  current = design;
  results.hidden = false;
  results.dataset.status = design.status;
  results.dataset.designId = design.id;
  $("design-description").textContent = design.description;
  const message = summary(design);
  if (statusLine.textContent !== message) statusLine.textContent = message;
  for (const preview of design.previews) renderPreview(preview);
  if (design.status !== "running") setBusy(false);
}

async function poll() {
  if (!current || current.status !== "running") return;
  try {
    render(await api(current.status_url));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      statusLine.textContent = "This design no longer exists.";
      setBusy(false);
      current = null;
      return;
    }
    statusLine.textContent = "Lost contact with the server; still trying…";
  }
  if (current && current.status === "running") pollTimer = setTimeout(poll, POLL_MS);
}

function follow(design) {
  clearTimeout(pollTimer);
  items.clear();
  list.replaceChildren();
  const url = new URL(window.location.href);
  url.searchParams.set("design", design.id);
  window.history.replaceState(null, "", url);
  render(design);
  if (design.status === "running") {
    setBusy(true);
    pollTimer = setTimeout(poll, POLL_MS);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const value = description.value.trim();
  let firstInvalid = null;
  if (!value) firstInvalid = showError(form, "description", "Describe the voice: gender, age, accent, tone, pace.");
  else if (characters(value) > maxDescription) {
    firstInvalid = showError(form, "description", `The description is too long: at most ${maxDescription} characters.`);
  }
  const text = form.elements.text.value.trim();
  if (!text) firstInvalid = firstInvalid || showError(form, "text", "Type a sentence for the previews to say.");
  if (firstInvalid) {
    firstInvalid.focus();
    return;
  }
  setBusy(true);
  try {
    const design = await api("/api/design", {
      method: "POST",
      json: {
        description: value,
        text,
        language: form.elements.language.value,
        candidates: Number(form.elements.candidates.value),
      },
    });
    follow(design);
    results.focus();
  } catch (err) {
    setBusy(false);
    const control = showApiError(form, err);
    if (control) control.focus();
  }
});

async function start() {
  updateCount();
  const designId = new URLSearchParams(window.location.search).get("design");
  if (designId && form.dataset.canDesign === "true") {
    try {
      const design = await api(`/api/design/${encodeURIComponent(designId)}`);
      description.value = design.description;
      form.elements.text.value = design.text;
      updateCount();
      follow(design);
    } catch {
      // An unknown or deleted design: start afresh.
    }
  }
  form.dataset.ready = "true";
}

start();
