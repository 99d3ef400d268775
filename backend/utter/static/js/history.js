// /history: past generations, newest first, a page at a time (?page=N).
import { api, confirmDelete, engineNames, formatDate, formatDuration, showChecks } from "./api.js";
import { showLines, showSubtitleLinks, showWords } from "./words.js";

const params = new URLSearchParams(window.location.search);
// ?limit= picks another page size (1–100), kept while paging.
const PAGE_SIZE = Math.min(100, Math.max(1, parseInt(params.get("limit"), 10) || 10));
const $ = (id) => document.getElementById(id);
const list = $("history-list");
const status = $("history-status");
const pager = $("pager");
const prev = $("page-prev");
const next = $("page-next");
const template = $("generation-template");
const statusLabels = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled" };

let page = Math.max(1, parseInt(params.get("page"), 10) || 1);
let total = 0;

function excerpt(text, words = 8) {
  const parts = text.split(/\s+/);
  return parts.length > words ? `${parts.slice(0, words).join(" ")}…` : text;
}

function renderGeneration(generation) {
  const item = template.content.firstElementChild.cloneNode(true);
  item.dataset.generationId = generation.id;
  item.dataset.status = generation.status;
  const title = item.querySelector(".item-title");
  title.textContent = generation.voice_name;
  title.id = `generation-${generation.id}`;
  item.querySelector("article").setAttribute("aria-labelledby", title.id);
  item.querySelector(".badge").textContent = statusLabels[generation.status] || generation.status;
  item.querySelector(".badge").dataset.status = generation.status;
  const meta = [formatDate(generation.created_at)];
  if (generation.duration_seconds != null) meta.push(formatDuration(generation.duration_seconds));
  if (generation.speed !== 1) meta.push(`${generation.speed}× speed`);
  if (generation.engine) meta.push(engineNames[generation.engine] || generation.engine);
  if (generation.voice_cloned === false) meta.push("built-in voice, not cloned");
  item.querySelector(".meta").textContent = meta.join(" · ");
  showChecks(item.querySelector(".checks"), generation.checks);
  item.querySelector(".quote").textContent = generation.text;
  if (generation.lines) {
    item.querySelector(".item-title").textContent = `Dialogue: ${generation.voice_name}`;
    showLines(item.querySelector(".quote"), generation);
  }
  const label = generation.lines
    ? `dialogue “${excerpt(generation.lines[0].text)}” with ${generation.voice_name}`
    : `“${excerpt(generation.text)}” in ${generation.voice_name}`;
  if (generation.status === "done") {
    const audio = item.querySelector("audio");
    audio.hidden = false;
    audio.src = generation.audio_url;
    audio.setAttribute("aria-label", `Play ${label}`);
    showWords(item.querySelector(".quote"), audio, generation);
    showSubtitleLinks(item.querySelector(".subtitle-links"), generation);
    const download = item.querySelector(".download-link");
    download.hidden = false;
    download.href = generation.download_url;
    download.setAttribute("aria-label", `Download ${label}`);
    if (generation.lines) {
      const open = item.querySelector(".open-link");
      open.hidden = false;
      open.href = `/dialogue?id=${encodeURIComponent(generation.id)}`;
      open.textContent = "Open in Dialogue";
    }
  } else if (generation.status === "failed" && generation.error) {
    const error = item.querySelector(".error-text");
    error.hidden = false;
    error.textContent = generation.error.message;
  } else if (generation.status === "queued" || generation.status === "running") {
    const open = item.querySelector(".open-link");
    open.hidden = false;
    open.href = generation.lines ? `/dialogue?id=${encodeURIComponent(generation.id)}`
      : `/generate?task=${encodeURIComponent(generation.id)}`;
    open.textContent = "Follow progress";
  }
  const deleteButton = item.querySelector(".delete-button");
  deleteButton.setAttribute("aria-label", `Delete ${label}`);
  deleteButton.addEventListener("click", async () => {
    if (!(await confirmDelete(`${label} will be deleted, with its audio.`))) {
      deleteButton.focus();
      return;
    }
    try {
      await api(`/api/generations/${generation.id}`, { method: "DELETE" });
      status.textContent = "Deleted.";
      await load();
      (list.querySelector(".delete-button") || $("page-title")).focus();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  return item;
}

async function load() {
  list.dataset.loaded = "false";
  const offset = (page - 1) * PAGE_SIZE;
  let body;
  try {
    body = await api(`/api/generations?limit=${PAGE_SIZE}&offset=${offset}`);
  } catch (err) {
    status.textContent = err.message;
    return;
  }
  total = body.total;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (page > pages && total > 0) {
    // The last page emptied (e.g. after a delete): show the new last page instead.
    page = pages;
    const url = new URL(window.location.href);
    if (page > 1) url.searchParams.set("page", String(page));
    else url.searchParams.delete("page");
    window.history.replaceState(null, "", url);
    return load();
  }
  list.replaceChildren(...body.generations.map(renderGeneration));
  if (!total) status.textContent = "Nothing generated yet.";
  else if (!status.textContent.startsWith("Deleted")) status.textContent = "";
  pager.hidden = total <= PAGE_SIZE;
  prev.disabled = page <= 1;
  next.disabled = page >= pages;
  const last = Math.min(total, offset + body.generations.length);
  $("page-info").textContent = `${offset + 1}–${last} of ${total} · page ${page} of ${pages}`;
  list.dataset.loaded = "true";
}

function go(delta) {
  page += delta;
  const url = new URL(window.location.href);
  if (page > 1) url.searchParams.set("page", String(page));
  else url.searchParams.delete("page");
  window.history.pushState(null, "", url);
  status.textContent = "";
  load();
  $("page-title").scrollIntoView({ block: "start" });
}
prev.addEventListener("click", () => go(-1));
next.addEventListener("click", () => go(1));
window.addEventListener("popstate", () => {
  page = Math.max(1, parseInt(new URLSearchParams(window.location.search).get("page"), 10) || 1);
  load();
});

load();
