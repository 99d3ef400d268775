// Shared helpers: JSON calls to the API, its error shape, field errors, small formatters.
// Every API error is {"error": {"code", "message", "field"}}; `field` names the form
// control it concerns, so the message can be shown next to it.

export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

function errorFromBody(status, body) {
  const error = body && body.error;
  if (error && error.message) {
    return new ApiError(status, error.code || "error", error.message, error.field || null);
  }
  return new ApiError(status, "http_error", `The server answered ${status}. Try again in a moment.`);
}

/** fetch + JSON. Resolves to the parsed body (null for 204); rejects with ApiError. */
export async function api(url, { method = "GET", json, signal } = {}) {
  const options = { method, headers: { Accept: "application/json" }, signal };
  if (json !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "Could not reach the server. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw errorFromBody(response.status, body);
  return body;
}

/** POST a FormData with upload progress (fetch cannot report it). */
export function upload(url, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(errorFromBody(xhr.status, xhr.response));
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "network_error", "The upload failed: the server could not be reached.")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was stopped.")));
    xhr.send(formData);
  });
}

/** Remove every message shown by showError inside `form`. */
export function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

/**
 * Show `message` next to the control named `field` (its [data-error-for] slot);
 * without a matching slot it goes to the form's general slot (data-error-for="").
 */
export function showError(form, field, message) {
  let slot = field ? form.querySelector(`[data-error-for="${CSS.escape(field)}"]`) : null;
  if (!slot) slot = form.querySelector('[data-error-for=""]');
  if (slot) slot.textContent = message;
  const control = field ? form.querySelector(`[name="${CSS.escape(field)}"]`) : null;
  if (control && slot && slot.dataset.errorFor === field) {
    control.setAttribute("aria-invalid", "true");
    return control;
  }
  return null;
}

/** Show an ApiError (or anything thrown) in the right place; returns the control it concerns, if any. */
export function showApiError(form, err) {
  const message = err instanceof ApiError ? err.message : "Something went wrong. Try again.";
  return showError(form, err instanceof ApiError ? err.field : null, message);
}

export function formatSeconds(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  const whole = Math.round(seconds);
  const m = Math.floor(whole / 60);
  const s = whole % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

/** A length of audio: "3.6 s" under a minute, "2:05" above. */
export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  return seconds < 60 ? `${seconds.toFixed(1)} s` : formatSeconds(seconds);
}

// What hearing each part back found, in one line (the server writes it); marked when a part still sounds wrong.
export function showChecks(element, checks) {
  element.hidden = !checks;
  element.textContent = checks ? checks.summary : "";
  element.classList.toggle("checks-failed", Boolean(checks && checks.failed));
}

export function formatBytes(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso) {
  // The API sends UTC; older rows may lack the zone suffix.
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

export function parseDate(iso) {
  return new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
}

/** A confirmation in the page's <dialog id="confirm-dialog">; resolves true when confirmed. */
export function confirmDelete(message) {
  const dialog = document.getElementById("confirm-dialog");
  dialog.querySelector("#confirm-text").textContent = message;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
  });
}

/** Fill a <ul> with the advice from a voice's reference check (nothing when all is well). */
export function renderAdvice(list, voice) {
  const warnings = (voice.check && voice.check.warnings) || [];
  list.replaceChildren(...warnings.map((warning) => {
    const item = document.createElement("li");
    item.textContent = warning.message;
    return item;
  }));
  list.hidden = warnings.length === 0;
}

export const engineNames = { piper: "Piper", qwen: "Qwen3-TTS", modal: "Qwen3-TTS on Modal" };

export const sourceLabels = { uploaded: "Uploaded", recorded: "Recorded", designed: "Designed" };
