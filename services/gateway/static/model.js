// The page generated from a model's schema: live views of its exposed traits and typed controls for the
// traits a client may write, the way Traits UI gives any HasTraits object a default View. No build step,
// no third-party code; every value is set with textContent.
import { el, joinForm } from "/static/join.js";
import { Client } from "/static/traitsweb.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const ROWS = 200; // table rows kept in the page: the newest ones
const POINTS = 2000; // points drawn in a chart: the newest ones
const transport = new URLSearchParams(window.location.search).get("transport") || "poll";
const client = new Client({ transport });
window.__traitsweb = client; // read-only hook for measurement (bench/page.py times the change handling)
const views = new Map(); // trait -> { update(change), render() }
const controls = new Map(); // trait -> { show(value), error(text) }
const dirty = new Set(); // views to redraw at the next animation frame
let frame = 0;

const format = (value) => {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, "");
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) return value.map(format).join(", ");
  return JSON.stringify(value);
};

// -- what the schema says ----------------------------------------------------------------------------
// Every trait in the state gets a view, every writable trait a control; a schema entry may refine either
// with `title` (a trait's `label`), `description` (its `desc`) and `x-order` (its `order`).
function describe(schema, state) {
  const properties = (schema && schema.properties) || {};
  const names = new Set([...Object.keys(properties), ...Object.keys(state)]);
  const fields = [];
  let position = 0;
  for (const name of names) {
    const entry = properties[name] || {};
    fields.push({
      name,
      schema: entry,
      inState: name in state,
      writable: name in properties && entry.readOnly !== true,
      title: entry.title || name.replace(/_/g, " "),
      description: entry.description || "",
      order: typeof entry["x-order"] === "number" ? entry["x-order"] : 1000 + position++,
      group: typeof entry["x-group"] === "string" ? entry["x-group"] : "",
    });
  }
  // ungrouped fields first, then each group in the order of its first field
  const firsts = new Map();
  for (const f of [...fields].sort((a, b) => a.order - b.order)) if (!firsts.has(f.group)) firsts.set(f.group, f.order);
  const rank = (f) => (f.group ? firsts.get(f.group) : -Infinity);
  return fields.sort((a, b) => rank(a) - rank(b) || a.order - b.order);
}

const isNumeric = (items) => items.length > 0 && items.every((v) => typeof v === "number");

// -- views -------------------------------------------------------------------------------------------
function scalarView(field, card) {
  const value = el("div", { class: "scalar", "data-trait": field.name });
  card.append(value);
  return { render: () => { value.textContent = format(client.state[field.name]); } };
}

function chartView(field, card) {
  const latest = el("div", { class: "scalar" });
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "chart"); svg.setAttribute("viewBox", "0 0 400 120");
  svg.setAttribute("preserveAspectRatio", "none"); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", field.title + " over time");
  const line = document.createElementNS(SVG, "polyline");
  svg.append(line);
  const low = el("span"), high = el("span");
  const note = el("p", { class: "note" });
  card.append(latest, svg, el("div", { class: "range" }, low, high), note);
  return {
    render: () => {
      const items = client.state[field.name] || [];
      const shown = items.slice(-POINTS);
      let min = Infinity, max = -Infinity;
      for (const v of shown) { if (v < min) min = v; if (v > max) max = v; }
      const span = max - min || 1;
      const step = shown.length > 1 ? 400 / (shown.length - 1) : 0;
      line.setAttribute("points", shown.map((v, i) => `${(i * step).toFixed(1)},${(115 - ((v - min) / span) * 105).toFixed(1)}`).join(" "));
      low.textContent = shown.length ? "min " + format(min) : "";
      high.textContent = shown.length ? "max " + format(max) : "";
      latest.textContent = items.length ? format(items[items.length - 1]) : "–";
      svg.dataset.points = String(shown.length);
      note.textContent = `${items.length} values` + (items.length > POINTS ? `, the last ${POINTS} drawn` : "");
    },
  };
}

function columnsOf(items) {
  const columns = [];
  for (const item of items.slice(-ROWS)) {
    if (item && typeof item === "object" && !Array.isArray(item)) {
      for (const key of Object.keys(item)) if (!columns.includes(key)) columns.push(key);
    }
  }
  return columns;
}

function row(cells) {
  return el("tr", {}, ...cells.map((c) => el("td", { text: format(c) })));
}

// A list as a table of its newest rows; a change at the end or before the rows costs O(changed items).
function listView(field, card) {
  const table = el("table", { "data-trait": field.name });
  const body = el("tbody");
  const note = el("p", { class: "note" });
  card.append(el("div", { class: "table-wrap" }, table), note);
  let columns = [];
  let first = 0; // index in the list of the first row shown
  const cellsOf = (item) => (columns.length ? columns.map((c) => (item ? item[c] : undefined)) : [item]);
  const noteText = () => {
    const n = (client.state[field.name] || []).length;
    note.textContent = n > body.children.length ? `${n} items, the newest ${body.children.length} shown` : `${n} items`;
  };
  const render = () => {
    const items = client.state[field.name] || [];
    columns = columnsOf(items);
    const head = el("thead", {}, el("tr", {}, ...(columns.length ? columns : ["value"]).map((c) => el("th", { text: c }))));
    first = Math.max(0, items.length - ROWS);
    body.replaceChildren(...items.slice(first).map((item) => row(cellsOf(item))));
    table.replaceChildren(head, body);
    noteText();
  };
  const update = (change) => {
    const items = client.state[field.name];
    const shown = body.children.length;
    const { index, removed, added } = change;
    const objects = added.some((a) => a && typeof a === "object" && !Array.isArray(a));
    if (objects && added.some((a) => Object.keys(a).some((k) => !columns.includes(k)))) return render();
    if (index + removed <= first && !(removed === 0 && index === first + shown)) {
      first += added.length - removed;
    } else {
      const from = Math.max(index, first);
      const drop = Math.min(index + removed, first + shown) - from;
      for (let i = 0; i < drop; i++) body.children[from - first].remove();
      const fragment = document.createDocumentFragment();
      fragment.append(...added.map((item) => row(cellsOf(item))));
      body.insertBefore(fragment, body.children[from - first] || null);
      first = Math.min(index, first);
    }
    while (body.children.length > ROWS) { body.firstElementChild.remove(); first += 1; }
    if (first + body.children.length !== items.length) return render();
    noteText();
  };
  return { render, update };
}

// A dict as a table, one row per key, changed in place; values that are objects get a column per field.
function dictView(field, card) {
  const body = el("tbody");
  const table = el("table", { "data-trait": field.name });
  card.append(el("div", { class: "table-wrap" }, table));
  const rows = new Map();
  let columns = [];
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const cells = (value) => (columns.length ? columns.map((c) => (isObject(value) ? value[c] : undefined)) : [value]);
  const put = (key, value) => {
    let tr = rows.get(key);
    if (!tr) { tr = el("tr"); rows.set(key, tr); body.append(tr); }
    tr.replaceChildren(el("td", { text: key }), ...cells(value).map((c) => el("td", { text: format(c) })));
  };
  const render = () => {
    const items = client.state[field.name] || {};
    columns = [];
    for (const value of Object.values(items)) {
      if (isObject(value)) for (const k of Object.keys(value)) if (!columns.includes(k)) columns.push(k);
    }
    const head = el("thead", {}, el("tr", {}, el("th", { text: "key" }), ...(columns.length ? columns : ["value"]).map((c) => el("th", { text: c }))));
    rows.clear(); body.replaceChildren();
    table.replaceChildren(head, body);
    for (const [key, value] of Object.entries(items)) put(key, value);
  };
  const update = (change) => {
    if (change.op !== "dict") return render();
    const added = Object.values(change.set || {});
    if (added.some((v) => isObject(v) && Object.keys(v).some((k) => !columns.includes(k)))) return render();
    for (const key of change.removed || []) { const tr = rows.get(key); if (tr) { tr.remove(); rows.delete(key); } }
    for (const [key, value] of Object.entries(change.set || {})) put(key, value);
  };
  return { render, update };
}

// Every shared model's `participants` (session id -> name): who is here, by name.
function participantsView(field, card) {
  const list = el("ul", { class: "chips", "data-trait": field.name });
  card.append(list);
  return {
    render: () => {
      const me = client.me && client.me.id;
      const people = Object.entries(client.state[field.name] || {}).sort((a, b) => a[1].localeCompare(b[1]));
      list.replaceChildren(...people.map(([id, name]) => el("li", { text: id === me ? name + " (you)" : name })));
    },
  };
}

function setView(field, card) {
  const list = el("ul", { class: "chips", "data-trait": field.name });
  card.append(list);
  return { render: () => list.replaceChildren(...(client.state[field.name] || []).map((m) => el("li", { text: format(m) }))) };
}

function makeView(field) {
  const card = el("section", { class: "card view", "data-view": field.name });
  card.append(el("h2", { text: field.title }));
  if (field.description) card.append(el("p", { class: "desc", text: field.description }));
  const value = client.state[field.name];
  const schema = field.schema;
  let view;
  if (field.name === "participants" && value && typeof value === "object") view = participantsView(field, card);
  else if (schema.uniqueItems) view = setView(field, card);
  else if (Array.isArray(value)) {
    const numeric = ["number", "integer"].includes(schema.items && schema.items.type) || isNumeric(value);
    view = numeric ? chartView(field, card) : listView(field, card);
    view.provisional = value.length === 0 && !(schema.items && schema.items.type); // a chart or a table?
    card.classList.add("wide");
  } else if (value && typeof value === "object") {
    view = dictView(field, card);
    const items = (schema.additionalProperties && schema.additionalProperties.type) || "";
    if (items === "object" || Object.values(value).some((v) => v && typeof v === "object")) card.classList.add("wide");
  }
  else view = scalarView(field, card);
  view.card = card;
  return view;
}

// -- controls ----------------------------------------------------------------------------------------
function makeControl(field) {
  const schema = field.schema;
  const id = "control-" + field.name;
  const wrap = el("div", { class: "control", "data-control": field.name });
  const error = el("p", { class: "error", "aria-live": "polite", id: id + "-error" });
  const label = el("label", { for: id, text: field.title });
  const row = el("div", { class: "row" });
  let show = () => {};
  const send = async (value) => {
    error.textContent = "";
    try { await client.set(field.name, value); } catch (e) { error.textContent = e.detail; }
  };
  const numeric = schema.type === "integer" || schema.type === "number";
  if (Array.isArray(schema.enum)) {
    const select = el("select", { id }, ...schema.enum.map((v, i) => el("option", { value: String(i), text: format(v) })));
    select.addEventListener("change", () => send(schema.enum[Number(select.value)]));
    show = (v) => { const i = schema.enum.findIndex((e) => e === v); if (i >= 0) select.value = String(i); };
    row.append(select);
  } else if (schema.type === "boolean") {
    const box = el("input", { id, type: "checkbox" });
    box.addEventListener("change", () => send(box.checked));
    show = (v) => { box.checked = Boolean(v); };
    row.append(box);
  } else if (numeric) {
    const step = schema.type === "integer" ? "1" : "any";
    const number = el("input", { id, type: "number", step, "aria-describedby": error.id });
    const parse = (text) => (schema.type === "integer" ? parseInt(text, 10) : parseFloat(text));
    if ("minimum" in schema && "maximum" in schema) {
      const slider = el("input", { type: "range", min: String(schema.minimum), max: String(schema.maximum),
        step: schema.type === "integer" ? "1" : String((schema.maximum - schema.minimum) / 1000), "aria-label": field.title });
      slider.addEventListener("input", () => { number.value = slider.value; });
      slider.addEventListener("change", () => send(parse(slider.value)));
      row.append(slider);
      show = (v) => { if (document.activeElement !== slider) slider.value = String(v); if (document.activeElement !== number) number.value = String(v); };
    } else {
      show = (v) => { if (document.activeElement !== number) number.value = String(v); };
    }
    for (const key of ["minimum", "maximum"]) if (key in schema) number.setAttribute(key === "minimum" ? "min" : "max", String(schema[key]));
    number.addEventListener("change", () => {
      const value = parse(number.value);
      if (Number.isNaN(value)) { error.textContent = "must be a number"; return; }
      send(value);
    });
    row.append(number);
  } else {
    const input = el("input", { id, type: "text", "aria-describedby": error.id });
    if (schema.maxLength) input.setAttribute("maxlength", String(schema.maxLength));
    const button = el("button", { type: "submit", text: "Set" });
    const form = el("form", { class: "row", autocomplete: "off" }, input, button);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try { await client.set(field.name, input.value); input.value = ""; } catch (e) { error.textContent = e.detail; }
    });
    show = (v) => { if (document.activeElement !== input && typeof v === "string") input.value = v; };
    row.append(form);
  }
  wrap.append(label, row, error);
  if (field.description) wrap.append(el("p", { class: "desc", text: field.description }));
  return { element: wrap, show, error: (text) => { error.textContent = text; } };
}

// -- the page ----------------------------------------------------------------------------------------
function build() {
  views.clear(); controls.clear(); dirty.clear();
  const fields = describe(client.schema || {}, client.state);
  const form = $("controls");
  const container = $("views");
  form.replaceChildren(); container.replaceChildren();
  let heading = "";
  for (const field of fields) {
    if (field.writable && Object.keys(field.schema).some((k) => ["type", "enum"].includes(k))) {
      const control = makeControl(field);
      controls.set(field.name, control);
      form.append(control.element);
      if (field.inState) control.show(client.state[field.name]);
    }
    if (field.inState && field.group && field.group !== heading) {
      heading = field.group;
      container.append(el("h2", { class: "group", text: field.group }));
    }
    if (field.inState) {
      const view = makeView(field);
      views.set(field.name, view);
      container.append(view.card);
      view.render();
    }
  }
  $("controls-card").hidden = controls.size === 0;
}

function redraw() {
  frame = 0;
  for (const name of dirty) {
    views.get(name).render();
    const control = controls.get(name);
    if (control) control.show(client.state[name]);
  }
  dirty.clear();
}

client.addEventListener("reset", build);
client.addEventListener("change", (event) => {
  const change = event.detail.change;
  const view = views.get(change.trait);
  if (!view || view.provisional) { build(); return; } // a trait the page could not lay out yet
  if (view.update && change.op !== "set") view.update(change);
  else { dirty.add(change.trait); if (!frame) frame = requestAnimationFrame(redraw); }
  const control = controls.get(change.trait);
  if (control && change.op === "set") control.show(change.value);
});
client.addEventListener("refused", (event) => {
  const control = controls.get(event.detail.trait);
  if (control) control.error(event.detail.detail);
});
client.addEventListener("status", (event) => {
  const { status, retryIn } = event.detail;
  const el2 = $("status");
  el2.className = "status " + (status === "live" ? "live" : "down");
  el2.textContent = status === "live" ? "live" : status === "reconnecting" ? `reconnecting in ${Math.round(retryIn / 1000)} s…` : "offline";
});
client.addEventListener("loggedout", () => { $("model").hidden = true; $("login").hidden = false; });

function enter() {
  $("login").hidden = true;
  $("model").hidden = false;
  client.start();
}

joinForm($("login"), client, enter);
$("logout").addEventListener("click", () => client.logout());
if (await client.resume()) enter(); else { $("status").textContent = "not logged in"; }
