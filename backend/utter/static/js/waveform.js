// Decoding audio in the browser: a waveform on a canvas, and a clip's true duration.
// OfflineAudioContext decodes without an audible context, so no autoplay rules apply.

function offlineContext() {
  const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
  return new Offline(1, 1, 44100);
}

/** Decode an ArrayBuffer of encoded audio into an AudioBuffer (rejects when undecodable). */
export function decodeAudio(arrayBuffer) {
  return offlineContext().decodeAudioData(arrayBuffer);
}

/** Peak (max |sample|) per column, from the first channel. */
function peaks(buffer, columns) {
  const data = buffer.getChannelData(0);
  const step = Math.max(1, Math.floor(data.length / columns));
  const result = new Float32Array(columns);
  for (let c = 0; c < columns; c += 1) {
    let max = 0;
    const start = c * step;
    const end = Math.min(data.length, start + step);
    for (let i = start; i < end; i += 1) {
      const v = Math.abs(data[i]);
      if (v > max) max = v;
    }
    result[c] = max;
  }
  return result;
}

function cssColor(element, name, fallback) {
  const value = getComputedStyle(element).getPropertyValue(name).trim();
  return value || fallback;
}

/**
 * Draw the waveform of the audio at `url` onto `canvas`, and keep the played part
 * highlighted while `audio` plays; clicking the canvas seeks. Resolves to the AudioBuffer.
 */
export async function drawWaveform(canvas, url, audio) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`audio fetch failed (${response.status})`);
  const buffer = await decodeAudio(await response.arrayBuffer());
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(200, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(48, Math.round(canvas.clientHeight * ratio));
  canvas.width = width;
  canvas.height = height;
  const barWidth = Math.max(2, Math.round(2 * ratio));
  const gap = Math.max(1, Math.round(ratio));
  const columns = Math.floor(width / (barWidth + gap));
  const levels = peaks(buffer, columns);
  const loudest = Math.max(0.01, ...levels);
  const context = canvas.getContext("2d");

  function render() {
    const played = audio && audio.duration ? audio.currentTime / audio.duration : 0;
    const base = cssColor(canvas, "--wave", "#9aa5a0");
    const done = cssColor(canvas, "--wave-played", "#2f6f5e");
    context.clearRect(0, 0, width, height);
    for (let c = 0; c < columns; c += 1) {
      const h = Math.max(ratio, (levels[c] / loudest) * (height - 4 * ratio));
      context.fillStyle = c / columns < played ? done : base;
      context.fillRect(c * (barWidth + gap), (height - h) / 2, barWidth, h);
    }
  }

  render();
  if (audio) {
    let frame = 0;
    const loop = () => {
      render();
      if (!audio.paused && !audio.ended) frame = requestAnimationFrame(loop);
    };
    audio.addEventListener("play", () => { cancelAnimationFrame(frame); frame = requestAnimationFrame(loop); });
    audio.addEventListener("seeked", render);
    audio.addEventListener("ended", render);
    canvas.addEventListener("click", (event) => {
      if (!audio.duration) return;
      const box = canvas.getBoundingClientRect();
      audio.currentTime = ((event.clientX - box.left) / box.width) * audio.duration;
      render();
    });
  }
  canvas.dataset.drawn = "true";
  return buffer;
}
