// /voices: the library. List (with ?search=), rename inline, delete after confirmation.
import { api, clearErrors, confirmDelete, formatDate, formatDuration, renderAdvice, showError, sourceLabels } from "./api.js";

const $ = (id) => document.getElementById(id);
const list = $("voice-list");
const status = $("voices-status");
const searchForm = $("search-form");
const searchInput = $("search");
const template = $("voice-template");

function renderVoice(voice) {
  const item = template.content.firstElementChild.cloneNode(true);
  item.dataset.voiceId = voice.id;
  const title = item.querySelector(".item-title");
  title.textContent = voice.name;
  title.id = `voice-${voice.id}`;
  item.querySelector("article").setAttribute("aria-labelledby", title.id);
  item.querySelector(".badge").textContent = sourceLabels[voice.source] || voice.source;
  const meta = [`Added ${formatDate(voice.created_at)}`, `${formatDuration(voice.reference_seconds)} reference`];
  if (voice.language && voice.language !== "auto") meta.push(voice.language.toUpperCase());
  if (voice.original_filename) meta.push(voice.original_filename);
  item.querySelector(".meta").textContent = meta.join(" · ");
  const audio = item.querySelector("audio");
  audio.src = voice.reference_url;
  audio.setAttribute("aria-label", `Reference recording of ${voice.name}`);
  if (voice.description) {
    item.querySelector(".description").hidden = false;
    item.querySelector(".description-text").textContent = voice.description;
  }
  if (voice.transcript) {
    item.querySelector(".transcript").hidden = false;
    item.querySelector(".transcript-text").textContent = voice.transcript;
    if (voice.transcript_source === "automatic") item.querySelector(".transcript-label").textContent = "Transcript (automatic):";
  }
  const advice = item.querySelector(".advice");
  renderAdvice(advice, voice);
  advice.setAttribute("aria-label", `Advice about the recording of ${voice.name}`);
  const generate = item.querySelector(".generate-link");
  generate.href = `/generate?voice=${encodeURIComponent(voice.id)}`;
  generate.setAttribute("aria-label", `Generate with ${voice.name}`);

  const renameButton = item.querySelector(".rename-button");
  const renameForm = item.querySelector(".rename");
  const nameInput = renameForm.elements.name;
  renameButton.setAttribute("aria-label", `Rename ${voice.name}`);
  renameButton.addEventListener("click", () => {
    renameForm.hidden = false;
    title.hidden = true;
    renameButton.hidden = true;
    nameInput.value = voice.name;
    nameInput.focus();
    nameInput.select();
  });
  const closeRename = () => {
    renameForm.hidden = true;
    title.hidden = false;
    renameButton.hidden = false;
    clearErrors(renameForm);
    renameButton.focus();
  };
  renameForm.querySelector(".rename-cancel").addEventListener("click", closeRename);
  renameForm.addEventListener("keydown", (event) => { if (event.key === "Escape") closeRename(); });
  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(renameForm);
    try {
      const updated = await api(`/api/voices/${voice.id}`, { method: "PATCH", json: { name: nameInput.value } });
      voice.name = updated.name;
      title.textContent = updated.name;
      renameButton.setAttribute("aria-label", `Rename ${updated.name}`);
      closeRename();
      status.textContent = `Renamed to “${updated.name}”.`;
    } catch (err) {
      showError(renameForm, "name", err.message);
      nameInput.focus();
    }
  });

  const deleteButton = item.querySelector(".delete-button");
  deleteButton.setAttribute("aria-label", `Delete ${voice.name}`);
  deleteButton.addEventListener("click", async () => {
    const sure = await confirmDelete(`“${voice.name}” and its reference recording will be deleted. ` +
      "Speech already generated with it stays in the history.");
    if (!sure) {
      deleteButton.focus();
      return;
    }
    try {
      await api(`/api/voices/${voice.id}`, { method: "DELETE" });
      const next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      status.textContent = `Deleted “${voice.name}”.`;
      (next ? next.querySelector(".delete-button") : searchInput).focus();
      if (!list.children.length) showEmpty();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  return item;
}

let query = "";

function showEmpty() {
  status.textContent = query
    ? `No voice name contains “${query}”.`
    : "No voices yet. Clone one to get started.";
}

async function load() {
  const url = query ? `/api/voices?search=${encodeURIComponent(query)}` : "/api/voices";
  try {
    const body = await api(url);
    list.replaceChildren(...body.voices.map(renderVoice));
    if (body.voices.length) {
      const noun = body.total === 1 ? "voice" : "voices";
      status.textContent = query ? `${body.total} ${noun} matching “${query}”.` : `${body.total} ${noun}.`;
    } else {
      showEmpty();
    }
  } catch (err) {
    status.textContent = err.message;
  }
  list.dataset.loaded = "true";
}

function setQueryFromUrl() {
  query = (new URLSearchParams(window.location.search).get("search") || "").trim();
  searchInput.value = query;
}

let debounce = 0;
function search() {
  query = searchInput.value.trim();
  const url = new URL(window.location.href);
  if (query) url.searchParams.set("search", query);
  else url.searchParams.delete("search");
  window.history.replaceState(null, "", url);
  list.dataset.loaded = "false";
  load();
}
searchInput.addEventListener("input", () => {
  clearTimeout(debounce);
  debounce = setTimeout(search, 250);
});
searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(debounce);
  search();
});

setQueryFromUrl();
load();
