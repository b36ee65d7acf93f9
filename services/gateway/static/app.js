// traitsweb chat page: no build step, no third-party code. Every user-supplied string is set with
// textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const view = { epoch: "", seq: 0, state: null, me: null, rendered: 0 };
let backoff = 0;

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = "status " + (kind || "");
}

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { status: response.status, data, headers: response.headers };
}

// -- the state, kept from the change stream (same rules as traitsweb/state.py) -------------------
function applyChange(state, change) {
  const trait = change.trait;
  if (change.op === "set") {
    state[trait] = change.value;
  } else if (change.op === "list") {
    const items = state[trait] || (state[trait] = []);
    items.splice(change.index, change.removed, ...change.added);
  } else if (change.op === "dict") {
    const items = state[trait] || (state[trait] = {});
    for (const key of change.removed || []) delete items[key];
    Object.assign(items, change.set || {});
  } else if (change.op === "set_items") {
    const members = new Set(state[trait] || []);
    for (const m of change.removed || []) members.delete(m);
    for (const m of change.added || []) members.add(m);
    state[trait] = Array.from(members).sort();
  }
}

function applyReply(reply) {
  if (reply.reset) {
    view.epoch = reply.epoch; view.seq = reply.seq; view.state = reply.state; view.rendered = 0;
    $("messages").replaceChildren();
    render();
    return;
  }
  let appendOnly = true;
  for (const message of reply.messages) {
    if (message.type === "trait_change") {
      if (message.trait === "messages" && !(message.removed === 0 && message.index === view.state.messages.length)) {
        appendOnly = false;
      }
      applyChange(view.state, message);
    } else if (message.type === "error" && view.me && message.to === view.me.id) {
      showError(message.trait === "rating_selector" ? "rating-error" : "send-error", message.detail);
    }
  }
  if (!appendOnly) { view.rendered = 0; $("messages").replaceChildren(); }
  view.epoch = reply.epoch; view.seq = reply.seq;
  render();
}

// -- rendering ------------------------------------------------------------------------------------
function render() {
  const state = view.state;
  if (!state) return;
  const list = $("messages");
  const messages = state.messages || [];
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  for (let i = view.rendered; i < messages.length; i++) {
    const m = messages[i];
    const li = document.createElement("li");
    const user = document.createElement("span"); user.className = "user"; user.textContent = m.user;
    const text = document.createElement("span"); text.className = "text"; text.textContent = m.text;
    const time = document.createElement("time"); time.className = "time";
    time.textContent = new Date(m.time * 1000).toLocaleTimeString();
    li.append(user, text, time);
    list.append(li);
  }
  view.rendered = messages.length;
  if (atBottom) list.scrollTop = list.scrollHeight;

  const participants = state.participants || {};
  const ratings = state.connection_ratings || {};
  const ul = $("participants");
  ul.replaceChildren();
  for (const [id, name] of Object.entries(participants).sort((a, b) => a[1].localeCompare(b[1]))) {
    const li = document.createElement("li");
    const who = document.createElement("span"); who.textContent = name;
    if (view.me && id === view.me.id) { who.className = "me"; who.textContent = name + " (you)"; }
    const stars = document.createElement("span"); stars.className = "stars";
    stars.textContent = ratings[id] ? "rated " + ratings[id] : "";
    li.append(who, stars);
    ul.append(li);
  }
  $("count").textContent = String(Object.keys(participants).length);
  const average = state.average_rating || 0;
  $("average").textContent = Object.keys(ratings).length ? "average " + average.toFixed(2) : "average –";
  const mine = view.me ? ratings[view.me.id] : undefined;
  for (const button of $("rating").querySelectorAll("button")) {
    button.setAttribute("aria-checked", String(Number(button.dataset.value) === mine));
    button.setAttribute("role", "radio");
  }
  drawChart(ratings);
}

function drawChart(ratings) {
  const counts = [0, 0, 0, 0, 0];
  for (const value of Object.values(ratings)) if (value >= 1 && value <= 5) counts[value - 1] += 1;
  const svg = $("chart");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const max = Math.max(1, ...counts);
  counts.forEach((count, i) => {
    const height = (count / max) * 90;
    const x = 10 + i * 48;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("class", "bar"); bar.setAttribute("x", x); bar.setAttribute("width", 36);
    bar.setAttribute("y", 105 - height); bar.setAttribute("height", height); bar.setAttribute("rx", 3);
    bar.dataset.count = String(count);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("class", "axis"); label.setAttribute("x", x + 18); label.setAttribute("y", 122);
    label.textContent = String(i + 1);
    const value = document.createElementNS(ns, "text");
    value.setAttribute("class", "value"); value.setAttribute("x", x + 18); value.setAttribute("y", 100 - height);
    value.textContent = count ? String(count) : "";
    svg.append(bar, label, value);
  });
}

function showError(id, text) { $(id).textContent = text || ""; }

// -- the Comet loop ---------------------------------------------------------------------------------
async function pollLoop() {
  while (view.me) {
    try {
      const reply = await api("GET", `/api/poll?since=${view.seq}&epoch=${encodeURIComponent(view.epoch)}`);
      if (reply.status === 401) { loggedOut(); return; }
      if (reply.status !== 200) throw new Error(reply.data ? reply.data.detail : "HTTP " + reply.status);
      backoff = 0;
      setStatus("live", "live");
      applyReply(reply.data);
    } catch (error) {
      backoff = Math.min(backoff ? backoff * 2 : 1000, 15000);
      setStatus(`reconnecting in ${Math.round(backoff / 1000)} s…`, "down");
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}

async function enter(me) {
  view.me = me;
  $("login").hidden = true;
  $("chat").hidden = false;
  const state = await api("GET", "/api/state");
  if (state.status !== 200) { loggedOut(); return; }
  applyReply({ reset: true, ...state.data });
  setStatus("live", "live");
  pollLoop();
}

function loggedOut() {
  view.me = null;
  $("chat").hidden = true;
  $("login").hidden = false;
  setStatus("not logged in", "");
}

function newMsgId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// A send is retried with the same msg_id when a replica or the broker is briefly away:
// the model applies one msg_id once, so nothing is lost and nothing doubles.
async function send(trait, value, errorId) {
  showError(errorId, "");
  const msgId = newMsgId();
  for (let attempt = 0, wait = 500; ; attempt++, wait *= 2) {
    let reply;
    try {
      reply = await api("POST", "/api/send", { trait, value, msg_id: msgId });
    } catch (error) {
      reply = { status: 0, data: null };
    }
    if (reply.status === 202) return true;
    if (reply.status === 401) { loggedOut(); return false; }
    const transient = reply.status === 0 || reply.status === 502 || reply.status === 503 || reply.status === 504;
    if (!transient || attempt >= 5) {
      showError(errorId, reply.data ? reply.data.detail : "could not send (HTTP " + reply.status + ")");
      return false;
    }
    showError(errorId, "retrying…");
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

window.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("login-error", "");
    const reply = await api("POST", "/api/login", { name: $("name").value });
    if (reply.status !== 200) { showError("login-error", reply.data ? reply.data.detail : "log-in failed"); return; }
    enter({ id: reply.data.id, name: reply.data.name });
  });
  $("send-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const entry = $("entry");
    if (await send("entry_field", entry.value, "send-error")) entry.value = "";
  });
  for (const button of $("rating").querySelectorAll("button")) {
    button.addEventListener("click", () => send("rating_selector", Number(button.dataset.value), "rating-error"));
  }
  $("logout").addEventListener("click", async () => { await api("POST", "/api/logout"); loggedOut(); });
  const session = await api("GET", "/api/session");
  if (session.status === 200) enter(session.data); else loggedOut();
});
