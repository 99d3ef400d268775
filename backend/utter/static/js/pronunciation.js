// /pronunciation: list, edit, import and export pronunciation dictionaries, and make one a voice's default.
// Saving sends the whole set of rules; the server checks it (and refuses it whole) and keeps a new version.
import { api, ApiError } from "./api.js";

const $ = (id) => document.getElementById(id);
const BASE = "/api/pronunciation-dictionaries";
let current = null; // the dictionary being edited; null for a new one
let voices = [];

const countRules = (count) => `${count} rule${count === 1 ? "" : "s"}`;

function showError(id, err, fallback) {
  $(id).textContent = err instanceof ApiError ? err.message : fallback;
}

function ruleRow(rule = { string_to_replace: "", type: "alias", alias: "", phoneme: "", case_sensitive: true }) {
  const row = document.createElement("tr");
  row.className = "rule";
  const cell = (control, label) => {
    control.setAttribute("aria-label", label);
    const td = document.createElement("td");
    td.append(control);
    row.append(td);
    return control;
  };
  cell(Object.assign(document.createElement("input"), { type: "text", className: "rule-word",
    value: rule.string_to_replace, maxLength: 100 }), "Word as written");
  const kind = cell(document.createElement("select"), "Kind");
  kind.className = "rule-kind";
  for (const [value, label] of [["alias", "Alias"], ["phoneme", "Phonemes (IPA)"]]) {
    kind.append(new Option(label, value, false, rule.type === value));
  }
  cell(Object.assign(document.createElement("input"), { type: "text", className: "rule-says",
    value: (rule.type === "phoneme" ? rule.phoneme : rule.alias) || "", maxLength: 200 }), "Say it as");
  cell(Object.assign(document.createElement("input"), { type: "checkbox",
    className: "rule-case", checked: rule.case_sensitive !== false }), "Match case");
  const remove = cell(Object.assign(document.createElement("button"), { type: "button",
    className: "button danger small-button", textContent: "Remove" }), "Remove this rule");
  remove.addEventListener("click", () => row.remove());
  // A phoneme rule's alias (what engines without phonemes say) is kept as it came.
  row.dataset.alias = rule.type === "phoneme" && rule.alias ? rule.alias : "";
  return row;
}

function rulesFromForm() {
  return [...document.querySelectorAll("#rules tr.rule")]
    .filter((row) => row.querySelector(".rule-word").value.trim() || row.querySelector(".rule-says").value.trim())
    .map((row) => {
      const type = row.querySelector(".rule-kind").value;
      const says = row.querySelector(".rule-says").value;
      const rule = { type, string_to_replace: row.querySelector(".rule-word").value,
        case_sensitive: row.querySelector(".rule-case").checked };
      if (type === "phoneme") {
        rule.phoneme = says;
        rule.alphabet = "ipa";
        if (row.dataset.alias) rule.alias = row.dataset.alias;
      } else {
        rule.alias = says;
      }
      return rule;
    });
}

function edit(dictionary) {
  current = dictionary;
  $("editor").hidden = false;
  $("editor-title").textContent = dictionary ? `Edit “${dictionary.name}”` : "New dictionary";
  $("dictionary-name").value = dictionary ? dictionary.name : "";
  $("dictionary-description").value = dictionary && dictionary.description ? dictionary.description : "";
  const rules = dictionary ? dictionary.rules : [];
  $("rules").replaceChildren(...(rules.length ? rules.map(ruleRow) : [ruleRow()]));
  $("editor-error").textContent = "";
  $("editor-status").textContent = dictionary ? `Version ${dictionary.version}, ${countRules(dictionary.rules_count)}.` : "";
  $("export").hidden = !dictionary;
  $("delete").hidden = !dictionary;
  $("voice-default").hidden = !dictionary;
  if (dictionary) {
    $("export").href = dictionary.pls_url;
    const using = voices.filter((v) => v.pronunciation_dictionary_id === dictionary.id).map((v) => v.name);
    $("voices-using").textContent = using.length ? `Used by: ${using.join(", ")}.` : "No voice uses it by default.";
  }
}

function listItem(dictionary) {
  const item = document.createElement("li");
  item.className = "item";
  const open = Object.assign(document.createElement("button"), { type: "button", className: "button link",
    textContent: dictionary.name });
  open.addEventListener("click", () => edit(dictionary));
  const meta = Object.assign(document.createElement("span"), { className: "muted",
    textContent: ` ${countRules(dictionary.rules_count)} · version ${dictionary.version}` });
  item.append(open, meta);
  return item;
}

async function load(selectId = null) {
  try {
    const [list, library] = await Promise.all([api(BASE), api("/api/voices")]);
    voices = library.voices;
    $("voice-select").replaceChildren(...voices.map((v) => new Option(v.name, v.id)));
    $("use-for-voice").disabled = !voices.length;
    $("dictionaries").replaceChildren(...list.dictionaries.map(listItem));
    $("dictionaries-status").textContent = list.total ? "" : "No dictionaries yet.";
    if (selectId) edit(list.dictionaries.find((d) => d.id === selectId) || null);
  } catch (err) {
    showError("dictionaries-status", err, "Could not load the dictionaries.");
  }
}

$("new-dictionary").addEventListener("click", () => edit(null));
$("add-rule").addEventListener("click", () => {
  const row = ruleRow();
  $("rules").append(row);
  row.querySelector(".rule-word").focus();
});

$("editor").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("editor-error").textContent = "";
  const body = { name: $("dictionary-name").value, description: $("dictionary-description").value,
    rules: rulesFromForm() };
  try {
    const saved = current
      ? await api(`${BASE}/${current.id}`, { method: "PATCH", json: body })
      : await api(BASE, { method: "POST", json: body });
    await load(saved.id);
    $("editor-status").textContent = `Saved: version ${saved.version}, ${countRules(saved.rules_count)}.`;
  } catch (err) {
    showError("editor-error", err, "The dictionary could not be saved.");
  }
});

$("delete").addEventListener("click", async () => {
  if (!current || !window.confirm(`Delete “${current.name}” and all its versions?`)) return;
  try {
    await api(`${BASE}/${current.id}`, { method: "DELETE" });
    $("editor").hidden = true;
    current = null;
    await load();
  } catch (err) {
    showError("editor-error", err, "The dictionary could not be deleted.");
  }
});

$("use-for-voice").addEventListener("click", async () => {
  if (!current) return;
  try {
    await api(`/api/voices/${$("voice-select").value}`, { method: "PATCH",
      json: { pronunciation_dictionary_id: current.id } });
    await load(current.id);
  } catch (err) {
    showError("editor-error", err, "The voice could not be changed.");
  }
});

$("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("import-error").textContent = "";
  const file = $("import-file").files[0];
  if (!file) {
    $("import-error").textContent = "Choose a PLS file to import.";
    return;
  }
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch(`${BASE}/import`, { method: "POST", body: form, headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, body?.error?.code, body?.error?.message || "The file was refused.");
    $("import-file").value = "";
    await load(body.id);
  } catch (err) {
    showError("import-error", err, "The file could not be imported.");
  }
});

load();
