// The chat page: no build step, no third-party code; the protocol is traitsweb.js's. Every user-supplied
// string is set with textContent, never parsed as HTML.
import { joinForm } from "/static/join.js";
import { Client } from "/static/traitsweb.js";

const $ = (id) => document.getElementById(id);
//: message rows kept in the page: the newest ones, plus older ones loaded while scrolling up
const WINDOW = 300;
const transport = new URLSearchParams(window.location.search).get("transport") || "poll";
const client = new Client({ transport });

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = "status " + (kind || "");
}

function showError(id, text) { $(id).textContent = text || ""; }

// -- the message list: rows for messages[first .. first + rows) of the state ---------------------
const rows = { first: 0 };

function messageRow(m) {
  const li = document.createElement("li");
  const user = document.createElement("span"); user.className = "user"; user.textContent = m.user;
  const text = document.createElement("span"); text.className = "text"; text.textContent = m.text;
  const time = document.createElement("time"); time.className = "time";
  time.textContent = new Date(m.time * 1000).toLocaleTimeString();
  li.append(user, text, time);
  return li;
}

function renderMessages() {
  const messages = client.state.messages || [];
  rows.first = Math.max(0, messages.length - WINDOW);
  $("messages").replaceChildren(...messages.slice(rows.first).map(messageRow));
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
}

// One list change, applied to the rows: O(changed items), however long the history. The rows always
// run to the end of the list; a change before them only moves them.
function updateMessages(change) {
  const list = $("messages");
  const shown = list.children.length;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const { index, removed, added } = change;
  if (index + removed <= rows.first && !(removed === 0 && index === rows.first + shown)) {
    rows.first += added.length - removed; // e.g. the oldest messages dropped at the history cap
  } else {
    const from = Math.max(index, rows.first);
    const drop = Math.min(index + removed, rows.first + shown) - from;
    for (let i = 0; i < drop; i++) list.children[from - rows.first].remove();
    const fragment = document.createDocumentFragment();
    fragment.append(...added.map(messageRow));
    list.insertBefore(fragment, list.children[from - rows.first] || null);
    rows.first = Math.min(index, rows.first);
  }
  while (atBottom && list.children.length > WINDOW) { list.firstElementChild.remove(); rows.first += 1; }
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// Scrolled to the top: show older messages from the state, a window at a time; once the rows reach the
// oldest the state holds (a join gets only the newest part of a long history), fetch older ones from the
// gateway (`client.older`, GET /api/history) into the state first.
let fetching = false;
async function loadOlder() {
  const list = $("messages");
  if (list.scrollTop > 20 || !client.state || fetching) return;
  if (rows.first === 0) {
    fetching = true;
    try { await client.older("messages", WINDOW); } catch (error) { /* not now: the next scroll retries */ }
    finally { fetching = false; }
    if (rows.first === 0 || !client.state || list.scrollTop > 20) return;
  }
  const start = Math.max(0, rows.first - WINDOW);
  const height = list.scrollHeight;
  list.prepend(...client.state.messages.slice(start, rows.first).map(messageRow));
  rows.first = start;
  list.scrollTop = list.scrollHeight - height;
}

// -- the rest of the page: small, rendered whole ---------------------------------------------------
function renderPeople() {
  const state = client.state;
  const participants = state.participants || {};
  const ratings = state.connection_ratings || {};
  const me = client.me;
  const ul = $("participants");
  ul.replaceChildren();
  for (const [id, name] of Object.entries(participants).sort((a, b) => a[1].localeCompare(b[1]))) {
    const li = document.createElement("li");
    const who = document.createElement("span"); who.textContent = name;
    if (me && id === me.id) { who.className = "me"; who.textContent = name + " (you)"; }
    const stars = document.createElement("span"); stars.className = "stars";
    stars.textContent = ratings[id] ? "rated " + ratings[id] : "";
    li.append(who, stars);
    ul.append(li);
  }
  $("count").textContent = String(Object.keys(participants).length);
  const average = state.average_rating || 0;
  $("average").textContent = Object.keys(ratings).length ? "average " + average.toFixed(2) : "average –";
  const mine = me ? ratings[me.id] : undefined;
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

// -- wiring -------------------------------------------------------------------------------------------
client.addEventListener("reset", () => { renderMessages(); renderPeople(); });
client.addEventListener("change", (event) => {
  if (event.detail.change.trait === "messages") updateMessages(event.detail.change);
});
client.addEventListener("batch", (event) => {
  if (event.detail.changes.some((c) => c.trait !== "messages")) renderPeople();
});
client.addEventListener("older", (event) => {
  if (event.detail.trait === "messages") rows.first += event.detail.count; // the rows' items moved back
});
client.addEventListener("refused", (event) => {
  showError(event.detail.trait === "rating_selector" ? "rating-error" : "send-error", event.detail.detail);
});
client.addEventListener("status", (event) => {
  const { status, retryIn } = event.detail;
  if (status === "live") setStatus("live", "live");
  else if (status === "reconnecting") setStatus(`reconnecting in ${Math.round(retryIn / 1000)} s…`, "down");
  else if (status === "offline" && client.me) setStatus("offline: waiting for the network…", "down");
});
client.addEventListener("loggedout", () => showLogin());

function showLogin() {
  $("chat").hidden = true;
  $("login").hidden = false;
  setStatus("not logged in", "");
}

function enter() {
  $("login").hidden = true;
  $("chat").hidden = false;
  client.start();
}

async function send(trait, value, errorId) {
  showError(errorId, "");
  try {
    await client.set(trait, value);
    return true;
  } catch (error) {
    showError(errorId, error.detail);
    return false;
  }
}

joinForm($("login"), client, enter);
$("send-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const entry = $("entry");
  if (await send("entry_field", entry.value, "send-error")) entry.value = "";
});
for (const button of $("rating").querySelectorAll("button")) {
  button.addEventListener("click", () => send("rating_selector", Number(button.dataset.value), "rating-error"));
}
$("messages").addEventListener("scroll", loadOlder);
$("logout").addEventListener("click", () => client.logout());
if (await client.resume()) enter(); else showLogin();
