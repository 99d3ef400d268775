// /clone: choose, drop or record a clip; check it like the server does; upload with progress.
import { clearErrors, formatBytes, formatDuration, formatSeconds, renderAdvice, showApiError, showError, upload } from "./api.js";
import { decodeAudio } from "./waveform.js";

const form = document.getElementById("clone-form");
const limits = {
  maxBytes: Number(form.dataset.maxUploadMb) * 1024 * 1024,
  maxMb: Number(form.dataset.maxUploadMb),
  minSeconds: Number(form.dataset.minSeconds),
  maxSeconds: Number(form.dataset.maxSeconds),
  extensions: form.dataset.extensions.split(","),
};
const $ = (id) => document.getElementById(id);
const fileInput = $("audio");
const dropzone = $("dropzone");
const chosenBox = $("chosen");
const chosenAudio = $("chosen-audio");
const submit = $("clone-submit");
const status = $("clone-status");

let chosen = null; // { file, source, duration }
let previewUrl = null;

const formats = form.dataset.formats;

/** The same checks as the server (format, size, 10 s – 5 min), on this machine. Returns seconds or throws a message. */
async function checkClip(file) {
  const extension = (file.name.split(".").pop() || "").toLowerCase();
  const audioType = file.type.startsWith("audio/") || file.type === "video/webm" || file.type === "video/mp4";
  if (!limits.extensions.includes(extension) && !audioType) {
    throw `“${file.name}” is not a supported audio file. Use ${formats}.`;
  }
  if (file.size === 0) throw "The audio file is empty.";
  if (file.size > limits.maxBytes) {
    throw `The audio file is too big (${formatBytes(file.size)}): the limit is ${limits.maxMb} MB.`;
  }
  let buffer;
  try {
    buffer = await decodeAudio(await file.arrayBuffer());
  } catch {
    throw `“${file.name}” could not be read as audio. It may be damaged, or not really a ${extension.toUpperCase() || "sound"} file.`;
  }
  const seconds = buffer.duration;
  if (seconds < limits.minSeconds) {
    throw `The recording is ${seconds.toFixed(1)} s long; a voice needs at least ${Math.round(limits.minSeconds)} s of speech.`;
  }
  if (seconds > limits.maxSeconds) {
    throw `The recording is longer than the ${Math.round(limits.maxSeconds / 60)}-minute limit; trim it to the clearest part.`;
  }
  return seconds;
}

function clearChosen() {
  chosen = null;
  chosenBox.hidden = true;
  chosenAudio.removeAttribute("src");
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
}

async function useClip(file, source) {
  clearChosen();
  const slot = form.querySelector('[data-error-for="audio"]');
  slot.textContent = "";
  fileInput.removeAttribute("aria-invalid");
  status.textContent = `Checking “${file.name}”…`;
  try {
    const duration = await checkClip(file);
    chosen = { file, source, duration };
    previewUrl = URL.createObjectURL(file);
    chosenAudio.src = previewUrl;
    $("chosen-name").textContent = file.name;
    $("chosen-meta").textContent = `· ${formatDuration(duration)} · ${formatBytes(file.size)}`;
    chosenBox.hidden = false;
    status.textContent = `${source === "recorded" ? "Recording" : "File"} ready: ${formatDuration(duration)} of audio.`;
  } catch (message) {
    if (source === "uploaded") fileInput.value = "";
    status.textContent = "";
    showError(form, "audio", String(message));
  }
}

fileInput.addEventListener("change", () => {
  if (fileInput.files.length) useClip(fileInput.files[0], "uploaded");
});

$("chosen-clear").addEventListener("click", () => {
  clearChosen();
  fileInput.value = "";
  status.textContent = "The clip was removed.";
  fileInput.focus();
});

// Drag and drop onto the drop zone (the whole audio fieldset accepts it).
const dropTarget = form.querySelector(".audio-field");
for (const type of ["dragenter", "dragover"]) {
  dropTarget.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  dropTarget.addEventListener(type, (event) => {
    event.preventDefault();
    if (type === "drop" || !dropTarget.contains(event.relatedTarget)) dropzone.classList.remove("dragging");
  });
}
dropTarget.addEventListener("drop", (event) => {
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) useClip(file, "uploaded");
});

// Recording from the microphone: MediaRecorder for the clip, an AnalyserNode for the level meter.
const recordStart = $("record-start");
const recordStop = $("record-stop");
const meter = $("record-level");
const timer = $("record-timer");
const recordStatus = $("record-status");
let recording = null;

function pickMimeType() {
  const candidates = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];
  return candidates.find((type) => window.MediaRecorder && MediaRecorder.isTypeSupported(type)) || "";
}

async function startRecording() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
    recordStatus.textContent = "This browser cannot record here. Recording needs a secure page (https or localhost).";
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    recordStatus.textContent = err && err.name === "NotAllowedError"
      ? "Microphone access was refused. Allow it in the browser's site settings and try again."
      : "No microphone could be opened.";
    return;
  }
  const mimeType = pickMimeType();
  const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
  const chunks = [];
  const audioContext = new AudioContext();
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 1024;
  audioContext.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const started = performance.now();
  recording = { recorder, stream, audioContext, frame: 0, tick: 0 };

  const measure = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    const level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    meter.value = level;
    meter.textContent = `${Math.round(level * 100)}%`;
    recording.frame = requestAnimationFrame(measure);
  };
  const updateTimer = () => {
    const seconds = (performance.now() - started) / 1000;
    timer.textContent = formatSeconds(Math.floor(seconds));
    if (seconds >= limits.maxSeconds) stopRecording();
  };

  recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
  recorder.addEventListener("stop", () => {
    const type = recorder.mimeType || mimeType || "audio/webm";
    const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    const file = new File(chunks, `recording-${stamp}.${extension}`, { type: type.split(";")[0] });
    recordStatus.textContent = `Recorded ${timer.textContent}.`;
    useClip(file, "recorded");
  });

  recorder.start(250);
  measure();
  recording.tick = setInterval(updateTimer, 250);
  recordStart.hidden = true;
  recordStop.hidden = false;
  recordStop.focus();
  timer.textContent = "0:00";
  recordStatus.textContent = `Recording… speak for at least ${Math.round(limits.minSeconds)} seconds, then press Stop.`;
}

function stopRecording() {
  if (!recording) return;
  const { recorder, stream, audioContext, frame, tick } = recording;
  recording = null;
  cancelAnimationFrame(frame);
  clearInterval(tick);
  if (recorder.state !== "inactive") recorder.stop();
  for (const track of stream.getTracks()) track.stop();
  audioContext.close();
  meter.value = 0;
  meter.textContent = "silent";
  recordStop.hidden = true;
  recordStart.hidden = false;
  recordStart.focus();
}

recordStart.addEventListener("click", startRecording);
recordStop.addEventListener("click", stopRecording);

// Submitting: the server decodes the clip again and has the last word.
const progressBox = $("upload-progress");
const progressBar = $("upload-bar");
const progressText = $("upload-text");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (recording) stopRecording();
  clearErrors(form);
  const name = form.elements.name;
  let firstInvalid = null;
  if (!name.value) firstInvalid = showError(form, "name", "Give the voice a name.");
  if (!chosen) {
    const control = showError(form, "audio", "Choose an audio file, drop one here, or record one.");
    firstInvalid = firstInvalid || control;
  }
  if (firstInvalid) {
    firstInvalid.focus();
    return;
  }
  const data = new FormData();
  data.append("name", name.value);
  data.append("audio", chosen.file, chosen.file.name);
  data.append("transcript", form.elements.transcript.value);
  data.append("language", form.elements.language.value);
  data.append("source", chosen.source);

  submit.disabled = true;
  progressBox.hidden = false;
  progressBar.value = 0;
  status.textContent = "Uploading…";
  try {
    const voice = await upload("/api/clone", data, (fraction) => {
      const percent = Math.round(fraction * 100);
      progressBar.value = percent;
      progressText.textContent = fraction < 1 ? `Uploading… ${percent}%` : "Uploaded. Checking and transcribing the audio…";
    });
    showResult(voice);
  } catch (err) {
    status.textContent = "The voice was not saved.";
    const control = showApiError(form, err);
    if (control) control.focus();
  } finally {
    submit.disabled = false;
    progressBox.hidden = true;
  }
});

function showResult(voice) {
  form.hidden = true;
  const result = $("clone-result");
  $("result-name").textContent = voice.name;
  $("result-meta").textContent = `· ${formatDuration(voice.reference_seconds)} reference`;
  const transcript = $("result-transcript");
  transcript.hidden = !voice.transcript;
  $("result-transcript-label").textContent = voice.transcript_source === "automatic" ? "Heard (automatic transcript):" : "Transcript:";
  $("result-transcript-text").textContent = voice.transcript || "";
  renderAdvice($("result-advice"), voice);
  $("result-audio").src = voice.reference_url;
  $("result-generate").href = `/generate?voice=${encodeURIComponent(voice.id)}`;
  result.hidden = false;
  result.dataset.voiceId = voice.id;
  status.textContent = "";
  result.focus();
}
