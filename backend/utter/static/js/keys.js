// /keys: make, list and revoke access keys. A new key is shown once; making the first key also
// signs this browser in with it, so the owner is not locked out of the studio they just closed.
import { api, ApiError } from "./api.js";

const $ = (id) => document.getElementById(id);

async function signIn(key) {
  const form = new FormData();
  form.append("key", key);
  form.append("next", "/keys");
  await fetch("/signin", { method: "POST", body: form, redirect: "manual" });
}

function row(key) {
  const item = document.createElement("li");
  item.className = "item";
  const title = document.createElement("strong");
  title.textContent = key.name;
  const meta = document.createElement("span");
  meta.className = "muted";
  meta.textContent = ` ${key.prefix}… · made ${new Date(key.created_at).toLocaleString()}${key.revoked ? " · revoked" : ""}`;
  item.append(title, meta);
  if (!key.revoked) {
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "button danger small";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke the key ${key.name}`);
    revoke.addEventListener("click", async () => {
      await api(`/api/keys/${key.id}`, { method: "DELETE" });
      await load();
    });
    item.append(" ", revoke);
  }
  return item;
}

async function load() {
  const status = $("keys-status");
  try {
    const keys = await api("/api/keys");
    $("keys-list").replaceChildren(...keys.map(row));
    status.textContent = keys.length ? "" : "No keys yet.";
  } catch (err) {
    status.textContent = err instanceof ApiError ? err.message : "Could not load the keys.";
  }
}

$("new-key").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("key-name-error");
  error.hidden = true;
  try {
    const made = await api("/api/keys", { method: "POST", json: { name: $("key-name").value } });
    await signIn(made.key);
    $("new-key-value").textContent = made.key;
    $("new-key-result").hidden = false;
    $("key-name").value = "";
    await load();
  } catch (err) {
    error.textContent = err instanceof ApiError ? err.message : "The key could not be made.";
    error.hidden = false;
  }
});

load();
