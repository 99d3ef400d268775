// The text of a finished generation, word by word: the word being spoken is marked as the audio plays,
// and a click on a word plays from there (issue 18). The times come from /api/generations/{id}/timings.
import { api } from "./api.js";

// Tags in the typed text (<break time="1s"/>, <emphasis>…) are not shown between the words.
const TAG = /<\s*\/?\s*[A-Za-z][\w:.-]*(?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<>]*"|'[^'<>]*'))*\s*\/?\s*>/g;

function wordAt(starts, seconds) {
  // The last word that has started by `seconds` (binary search: texts run to hundreds of words).
  let low = 0;
  let high = starts.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (starts[middle] <= seconds) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}

// A dialogue's script in `quote`: its lines, each with its speaker and, once spoken, its place in the audio.
// Returns the element holding each line's words.
export function showLines(quote, generation) {
  const list = document.createElement("ol");
  list.className = "dialogue-lines";
  const holders = generation.lines.map((line) => {
    const row = document.createElement("li");
    const speaker = document.createElement("strong");
    speaker.textContent = `${line.voice_name}: `;
    const words = document.createElement("span");
    words.className = "line-words";
    words.textContent = line.text;
    row.append(speaker, words);
    if (line.start != null) {
      const where = document.createElement("span");
      where.className = "muted";
      where.textContent = ` (${line.start.toFixed(1)}–${line.end.toFixed(1)} s)`;
      row.append(where);
    }
    list.append(row);
    return words;
  });
  quote.replaceChildren(list);
  return holders;
}

// Links to the subtitles of a finished generation that has word timings, in `holder`; hidden without them.
export function showSubtitleLinks(holder, generation) {
  holder.hidden = !generation.timings_url;
  if (!generation.timings_url) return;
  const link = (format) => {
    const anchor = document.createElement("a");
    anchor.href = `/api/generations/${generation.id}/subtitles.${format}?download=1`;
    anchor.textContent = format.toUpperCase();
    anchor.setAttribute("aria-label", `Subtitles as ${format.toUpperCase()}`);
    return anchor;
  };
  holder.replaceChildren("Subtitles: ", link("srt"), " · ", link("vtt"));
}

// The server counts offsets in characters (code points); JavaScript strings count UTF-16 units, in which
// an emoji or another character outside the Basic Multilingual Plane takes two. So texts are sliced as
// arrays of code points.
const characters = (text) => Array.from(text);

// Where each line's words start in a dialogue's text ("Name: words", a line each), as the server counts.
function lineOffsets(lines) {
  let position = 0;
  return lines.map((line) => {
    position += characters(line.voice_name).length + 2;
    const offset = position;
    position += characters(line.text).length + 1;
    return offset;
  });
}

// Fills `quote` with the generation's text (a dialogue: its lines) and ties it to `audio`. Without timings
// it shows the plain text.
export async function showWords(quote, audio, generation) {
  const holders = generation.lines ? showLines(quote, generation) : null;
  if (!holders) quote.textContent = generation.text;
  delete quote.dataset.timed;
  if (!generation.timings_url) return;
  let timings;
  try {
    timings = await api(generation.timings_url);
  } catch {
    return; // the text stays readable; only the marking is missing
  }
  // Where the words go: the whole text, or each line of a dialogue (its words' offsets count from the
  // start of the dialogue's text, so each line's own offset is taken off).
  const offsets = holders ? lineOffsets(generation.lines) : [0];
  const places = (holders || [quote]).map((element, line) => ({
    element, text: holders ? generation.lines[line].text : generation.text, base: offsets[line], words: [],
  }));
  const spans = [];
  timings.words.forEach((word, index) => {
    const span = document.createElement("span");
    span.className = "word";
    span.textContent = word.text;
    span.dataset.index = String(index);
    span.dataset.start = String(word.start);
    span.title = "Play from here";
    spans[index] = span;
    const place = places[holders ? word.line : 0];
    if (place) place.words.push({ word, span });
  });
  for (const place of places) {
    const fragment = document.createDocumentFragment();
    const text = characters(place.text);
    const between = (from, to) => text.slice(from, to).join("").replace(TAG, "");
    let position = 0;
    for (const { word, span } of place.words) {
      const offset = word.offset - place.base;
      fragment.append(between(position, offset), span);
      position = offset + word.length;
    }
    fragment.append(between(position));
    place.element.replaceChildren(fragment);
  }
  quote.dataset.timed = "true";
  const starts = timings.words.map((word) => word.start);
  let marked = null;
  let frame = 0;

  function mark() {
    // In a pause between two words the last one spoken stays marked until the next starts.
    const index = wordAt(starts, audio.currentTime);
    const next = index >= 0 ? spans[index] : null;
    if (next === marked) return;
    if (marked) {
      marked.classList.remove("word-current");
      marked.removeAttribute("aria-current");
    }
    marked = next;
    if (marked) {
      marked.classList.add("word-current");
      marked.setAttribute("aria-current", "true");
    }
  }
  function follow() {
    mark();
    frame = audio.paused ? 0 : requestAnimationFrame(follow);
  }
  audio.addEventListener("play", () => { if (!frame) frame = requestAnimationFrame(follow); });
  audio.addEventListener("seeked", mark);
  audio.addEventListener("timeupdate", mark);
  quote.addEventListener("click", (event) => {
    const span = event.target.closest(".word");
    if (!span || !quote.contains(span)) return;
    audio.currentTime = Number(span.dataset.start);
    mark();
    audio.play().catch(() => {}); // a browser that refuses to play still moved to the word
  });
}
