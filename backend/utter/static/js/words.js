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

// Fills `quote` with the generation's text and ties it to `audio`. Without timings it shows the plain text.
export async function showWords(quote, audio, generation) {
  quote.textContent = generation.text;
  delete quote.dataset.timed;
  if (!generation.timings_url) return;
  let timings;
  try {
    timings = await api(generation.timings_url);
  } catch {
    return; // the text stays readable; only the marking is missing
  }
  const text = generation.text;
  const fragment = document.createDocumentFragment();
  const spans = [];
  let position = 0;
  timings.words.forEach((word, index) => {
    fragment.append(text.slice(position, word.offset).replace(TAG, ""));
    const span = document.createElement("span");
    span.className = "word";
    span.textContent = word.text;
    span.dataset.index = String(index);
    span.dataset.start = String(word.start);
    span.title = "Play from here";
    fragment.append(span);
    spans.push(span);
    position = word.offset + word.length;
  });
  fragment.append(text.slice(position).replace(TAG, ""));
  quote.replaceChildren(fragment);
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
