// Switching voice cloning on from the page: what it takes here, one click, then the download's
// progress (bytes, rate, time left), the check, the loading, and the switch, or why it failed.
// The server does the work in the background (POST /api/engine/setup); this only shows it.
import { ApiError, api } from "./api.js";

const box = document.getElementById("cloning-setup");
const ACTIVE = new Set(["downloading", "verifying", "loading"]);
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "unknown";
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

export function formatLeft(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min left`;
  return `about ${(seconds / 3600).toFixed(1)} h left`;
}

function showNeeds(needs) {
  if (!needs) return;
  $("setup-needs").removeAttribute("aria-busy");
  if (needs.on_disk) $("setup-size").textContent = "nothing: the weights are on disk already";
  else if (needs.download_bytes !== null) {
    const total = needs.total_bytes && needs.total_bytes !== needs.download_bytes
      ? ` (${formatBytes(needs.total_bytes - needs.download_bytes)} of ${formatBytes(needs.total_bytes)} arrived earlier)` : "";
    $("setup-size").textContent = `${formatBytes(needs.download_bytes)}${total}`;
  } else $("setup-size").textContent = `unknown: ${needs.hub_error || "Hugging Face did not answer"}`;
  const short = needs.download_bytes !== null && needs.free_bytes < needs.download_bytes;
  $("setup-free").textContent = `${formatBytes(needs.free_bytes)} in ${needs.models_dir}${short ? " — not enough" : ""}`;
  $("setup-gpu").textContent = needs.gpu ? `${needs.gpu} (CUDA)` : "none found: it runs on the CPU";
  $("setup-speed").textContent = needs.speed_note || "measured when the model loads";
}

function showProgress(status) {
  const progress = status.progress;
  const bar = $("setup-bar");
  $("setup-progress").hidden = !ACTIVE.has(status.state);
  if (status.state === "loading" || !progress || !progress.bytes_total) {
    bar.removeAttribute("value"); // indeterminate: loading has no byte count
  } else {
    bar.value = progress.fraction || 0;
  }
  let text = "";
  if (status.state === "downloading" && progress) {
    const parts = [`${formatBytes(progress.bytes_done)} of ${formatBytes(progress.bytes_total)}`];
    if (progress.bytes_per_second) parts.push(`${formatBytes(progress.bytes_per_second)}/s`);
    if (progress.seconds_left !== null) parts.push(formatLeft(progress.seconds_left));
    text = parts.join(" · ");
  } else if (status.state === "verifying" && progress) {
    text = `${Math.round(100 * (progress.fraction || 0))} % checked`;
  }
  $("setup-text").textContent = text;
}

const STATUS_TEXT = {
  off: "",
  downloading: "Downloading Qwen3-TTS… Generation goes on with Piper meanwhile; you may leave this page.",
  verifying: "Checking every file against the checksums Hugging Face gives…",
  loading: "Loading Qwen3-TTS and measuring its speed here…",
  failed: "",
};

// What the page said about the engine when it was rendered, brought up to date after the switch.
async function refreshEngineFacts() {
  const engine = await api("/api/engine");
  const facts = {
    "fact-engine": engine.label,
    "fact-reason": engine.reason,
    "fact-clones": engine.capabilities.can_clone ? "Yes" : "No",
    "fact-designs": engine.capabilities.can_design ? "Yes" : "No",
    "fact-languages": engine.capabilities.languages.map((language) => language.name).join(", "),
    "footer-engine": engine.label,
  };
  for (const [id, text] of Object.entries(facts)) {
    const element = $(id);
    if (element) element.textContent = text;
  }
}

function showReady(status) {
  const notice = $("clone-notice");
  notice.classList.remove("notice-warning");
  notice.classList.add("notice-ok");
  $("clone-notice-title").textContent = "Voice cloning is on";
  $("clone-notice-text").textContent = "Qwen3-TTS runs now: new generations speak in the voice you cloned, "
    + "and voices cloned earlier speak in their own voice from now on.";
  const link = document.createElement("a");
  link.href = "/generate";
  link.className = "button primary";
  link.id = "setup-generate";
  link.textContent = "Generate speech";
  const note = document.createElement("p");
  note.className = "small";
  note.textContent = status.note || "";
  box.replaceChildren(note, link);
  refreshEngineFacts().catch(() => {}); // the notice above already says cloning is on
}

function render(status) {
  box.dataset.state = status.state;
  if (status.needs) showNeeds(status.needs);
  if (status.state === "ready") return showReady(status);
  const button = $("setup-start");
  button.hidden = ACTIVE.has(status.state);
  button.disabled = ACTIVE.has(status.state) || status.state === "unavailable";
  button.textContent = status.state === "failed" ? "Try again"
    : status.needs && status.needs.on_disk ? "Switch cloning on" : "Download and switch cloning on";
  showProgress(status);
  $("setup-status").textContent = STATUS_TEXT[status.state] || status.note || status.why_not || "";
  const error = $("setup-error");
  error.hidden = status.state !== "failed";
  error.textContent = status.state === "failed" && status.error
    ? `Failed: ${status.error.message} (${status.error.code})` : "";
  if (ACTIVE.has(status.state)) setTimeout(poll, POLL_MS);
}

async function poll() {
  try {
    render(await api("/api/engine/setup"));
  } catch (err) {
    $("setup-status").textContent = err instanceof ApiError ? err.message : "Could not ask the server how far it got.";
    setTimeout(poll, POLL_MS * 3);
  }
}

async function start() {
  const button = $("setup-start");
  button.disabled = true;
  $("setup-error").hidden = true;
  $("setup-status").textContent = "Asking Hugging Face for the files…";
  try {
    render(await api("/api/engine/setup", { method: "POST" }));
  } catch (err) {
    const error = $("setup-error");
    error.hidden = false;
    error.textContent = err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
    $("setup-status").textContent = "";
    button.disabled = false;
  }
}

if (box) {
  $("setup-start").addEventListener("click", start);
  poll();
}
