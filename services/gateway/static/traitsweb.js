// traitsweb's browser client: the one implementation of the gateway's protocol that every page uses.
// An ES module with no dependencies. See docs/clients.md.
//
//   import { Client } from "/static/traitsweb.js";
//   const client = new Client({ transport: "sse" });
//   client.addEventListener("reset", (e) => render(e.detail.state));
//   client.addEventListener("change", (e) => update(e.detail.change));
//   await client.login("ada");            // or: await client.resume()
//   client.start();
//   await client.set("rating_selector", 4);
"use strict";

/** Apply one `trait_change` message to `state` in place (the same rules as traitsweb/state.py). */
export function applyChange(state, change) {
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
    // members compared by value (they may be JSON arrays) and sorted as Python sorts them
    const removed = new Set((change.removed || []).map(memberKey));
    const members = (state[trait] || []).filter((m) => !removed.has(memberKey(m)));
    const have = new Set(members.map(memberKey));
    for (const m of change.added || []) if (!have.has(memberKey(m))) { members.push(m); have.add(memberKey(m)); }
    state[trait] = members.sort(compareMembers);
  } else {
    throw new Error(`unknown change op ${change.op}`);
  }
}

/**
 * `change` as it applies to lists holding items from `offsets[trait]` on (a truncated state: the reply's
 * `truncated`); updates `offsets` (the same rules as traitsweb/state.py `localize`). List changes carry
 * absolute indices: one before the part held only moves the offset (e.g. the oldest items dropped at a
 * history cap), one reaching into it replaces its head.
 */
export function localize(change, offsets) {
  const trait = change.trait;
  if (change.op === "set") { delete offsets[trait]; return change; }
  const offset = offsets[trait] || 0;
  if (change.op !== "list" || offset === 0) return change;
  const { index, removed, added } = change;
  if (index >= offset) return { ...change, index: index - offset };
  let local, next;
  if (index + removed >= offset) { local = { ...change, index: 0, removed: index + removed - offset }; next = index; }
  else { local = { ...change, index: 0, removed: 0, added: [] }; next = offset + added.length - removed; }
  if (next) offsets[trait] = next; else delete offsets[trait];
  return local;
}

const memberKey = (member) => JSON.stringify(member);

function compareMembers(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const order = compareMembers(a[i], b[i]);
      if (order) return order;
    }
    return a.length - b.length;
  }
  const x = String(a), y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A refusal from the gateway: `status` (HTTP), `code` and `detail` as in docs/protocol.md. */
export class TraitswebError extends Error {
  constructor(status, code, detail, retryAfter) {
    super(detail || code || `HTTP ${status}`);
    this.name = "TraitswebError";
    this.status = status;
    this.code = code || "http_" + status;
    this.detail = detail || this.message;
    this.retryAfter = retryAfter;
  }
}

const TRANSIENT = new Set([0, 502, 503, 504]);
const TRANSPORTS = new Set(["poll", "sse", "ws"]);

/** A random `msg_id` (24 hex digits): the model applies a `msg_id` once, so a retried write never doubles. */
export function newMsgId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * One browser session on the shared model.
 *
 * Events (`addEventListener`; each a CustomEvent with `detail`):
 * - `reset` `{state, epoch, seq, schema}`: the whole state was (re)loaded: render it all;
 * - `change` `{change, state}`: one `trait_change` was applied to `state` (as applied: a list's indices
 *   are those of `state`, which holds a long list from `truncated[trait]` on; see `older()`);
 * - `batch` `{changes, state, epoch, seq}`: after the changes of one reply were applied;
 * - `older` `{trait, count, state}`: `older()` put `count` older items in front of `state[trait]`;
 * - `refused` `{code, detail, trait, msg_id}`: the model refused one of this session's writes;
 * - `status` `{status: "live" | "reconnecting" | "offline", retryIn}`;
 * - `loggedout` `{}`: the session ended (logout, idle, expired); `start()` stops.
 */
export class Client extends EventTarget {
  constructor({ transport = "poll", base = "", backoff = [1000, 15000], pollTimeout = 25 } = {}) {
    super();
    if (!TRANSPORTS.has(transport)) throw new Error(`transport must be one of ${[...TRANSPORTS].join(", ")}`);
    this.transport = transport;
    this.base = base;
    this.backoff = backoff;
    this.pollTimeout = pollTimeout;
    this.me = null;
    this.state = null;
    this.schema = {};
    // per list trait the state holds only from an absolute index on, that index (older items: `older()`)
    this.truncated = {};
    this.epoch = "";
    this.seq = 0;
    this.status = "offline";
    this._running = false;
    this._delay = 0;
    this._wake = null;
    this._abort = null;
    this._socket = null;
    this._onOnline = () => this._retryNow();
  }

  // -- the session ------------------------------------------------------------------------------
  /** The session the cookie names, or null. */
  async resume() {
    const reply = await this._fetch("GET", "/api/session");
    this.me = reply.status === 200 ? reply.data : null;
    return this.me;
  }

  /** Log in as `name`; raises TraitswebError (e.g. `invalid_name`, `rate_limited`). */
  async login(name) {
    const reply = await this._fetch("POST", "/api/login", { name });
    if (reply.status !== 200) throw this._error(reply);
    this.me = { id: reply.data.id, name: reply.data.name };
    return this.me;
  }

  async logout() {
    this.stop();
    await this._fetch("POST", "/api/logout");
    this._loggedOut();
  }

  // -- writing ----------------------------------------------------------------------------------
  /**
   * Write `value` to the client-writable trait `trait`. Resolves with the `msg_id` once the broker has
   * the write (202); retried with the same `msg_id` while a replica or the broker is briefly away.
   * Raises TraitswebError when the gateway refuses it (`invalid_value`, `not_writable`, ...). A value the
   * model itself refuses arrives later as a `refused` event with the same `msg_id`.
   */
  async set(trait, value, { retries = 5 } = {}) {
    const msgId = newMsgId();
    for (let attempt = 0, wait = 500; ; attempt++, wait *= 2) {
      const reply = await this._fetch("POST", "/api/send", { trait, value, msg_id: msgId });
      if (reply.status === 202) return msgId;
      if (reply.status === 401) this._loggedOut();
      if (!TRANSIENT.has(reply.status) || attempt >= retries) throw this._error(reply);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  // -- following the state ----------------------------------------------------------------------
  /** Load the state and follow it until `stop()` or the session ends. */
  async start() {
    if (this._running) return;
    this._running = true;
    window.addEventListener("online", this._onOnline);
    while (this._running) {
      try {
        if (this.state === null) await this._load();
        if (this.transport === "poll") await this._poll();
        else await this._stream();
        this._delay = 0;
      } catch (error) {
        if (!this._running) break;
        if (error instanceof TraitswebError && error.status === 401) { this._loggedOut(); break; }
        const retryAfter = error instanceof TraitswebError && error.retryAfter ? error.retryAfter * 1000 : 0;
        this._delay = Math.max(retryAfter, Math.min(this._delay ? this._delay * 2 : this.backoff[0], this.backoff[1]));
        this._setStatus(navigator.onLine === false ? "offline" : "reconnecting", this._delay);
        await this._sleep(this._delay);
      }
    }
    window.removeEventListener("online", this._onOnline);
  }

  stop() {
    this._running = false;
    if (this._abort) this._abort.abort();
    if (this._socket) this._socket.close();
    this._retryNow();
  }

  /**
   * Fetch up to `limit` items of list `trait` older than those the state holds (`GET /api/history`) and
   * put them in front of `state[trait]` (an `older` event says so at once). Resolves with how many were added: 0 when there are none, or
   * when the replica's answer is not at this client's position (try again later).
   */
  async older(trait, limit = 300) {
    const before = this.truncated[trait] || 0;
    if (!before || this.state === null) return 0;
    const query = `trait=${encodeURIComponent(trait)}&before=${before}&limit=${limit}`;
    const reply = await this._fetch("GET", `/api/history?${query}`);
    if (reply.status !== 200) throw this._error(reply);
    const { epoch, seq, start, items } = reply.data;
    if (epoch !== this.epoch || seq !== this.seq || this.truncated[trait] !== before || !items.length) return 0;
    if (start + items.length !== before) return 0;
    this.state[trait].unshift(...items);
    if (start) this.truncated[trait] = start; else delete this.truncated[trait];
    this._emit("older", { trait, count: items.length, state: this.state });
    return items.length;
  }

  async _load() {
    const reply = await this._fetch("GET", "/api/state");
    if (reply.status !== 200) throw this._error(reply);
    this._applyReply({ reset: true, ...reply.data });
    this._setStatus("live"); // the state is current: on a quiet model the first poll may not answer for a while
  }

  async _poll() {
    this._abort = new AbortController();
    const query = `since=${this.seq}&epoch=${encodeURIComponent(this.epoch)}&timeout=${this.pollTimeout}`;
    const reply = await this._fetch("GET", `/api/poll?${query}`, undefined, this._abort.signal);
    if (reply.status !== 200) throw this._error(reply);
    this._setStatus("live");
    this._applyReply(reply.data);
  }

  // SSE and WebSocket: one stream until it ends; reopened by start() from the current position (the
  // browser's own EventSource retry would resume with a stale epoch, so it is not used).
  _stream() {
    return new Promise((resolve, reject) => {
      const query = `since=${this.seq}&epoch=${encodeURIComponent(this.epoch)}`;
      const fail = (error) => { cleanup(); reject(error); };
      const end = () => { cleanup(); resolve(); };
      let cleanup;
      if (this.transport === "sse") {
        const source = new EventSource(`${this.base}/api/events?${query}`, { withCredentials: true });
        const onReply = (event) => { this._setStatus("live"); this._applyReply(JSON.parse(event.data)); };
        source.addEventListener("open", () => this._setStatus("live"));
        source.addEventListener("batch", onReply);
        source.addEventListener("reset", onReply);
        source.addEventListener("logged_out", () => fail(new TraitswebError(401, "logged_out", "the session ended")));
        source.addEventListener("error", (event) => {
          let body = null;
          try { body = event.data ? JSON.parse(event.data) : null; } catch (e) { body = null; }
          fail(body ? new TraitswebError(503, body.error, body.detail) : new TraitswebError(0, "disconnected", "the stream was interrupted"));
        });
        this._socket = source;
        cleanup = () => { source.close(); this._socket = null; };
      } else {
        const origin = this.base || window.location.origin;
        const socket = new WebSocket(`${origin.replace(/^http/, "ws")}/api/ws?${query}`);
        socket.addEventListener("open", () => this._setStatus("live"));
        socket.addEventListener("message", (event) => this._applyReply(JSON.parse(event.data)));
        socket.addEventListener("close", (event) => {
          if (event.code === 4401) fail(new TraitswebError(401, "logged_out", "the session ended"));
          else if (!this._running) end();
          else fail(new TraitswebError(event.code === 1013 ? 503 : 0, "disconnected", event.reason || "the connection closed"));
        });
        this._socket = socket;
        cleanup = () => { this._socket = null; };
      }
    });
  }

  _applyReply(reply) {
    if (reply.reset) {
      this.epoch = reply.epoch;
      this.seq = reply.seq;
      this.state = reply.state;
      this.truncated = { ...(reply.truncated || {}) };
      if (reply.schema) this.schema = reply.schema;
      this._emit("reset", { state: this.state, epoch: this.epoch, seq: this.seq, schema: this.schema });
      return;
    }
    if (reply.epoch !== this.epoch || this.state === null) return; // a stale reply: the next one resets
    const changes = [];
    for (const message of reply.messages) {
      if (message.seq <= this.seq) continue; // already applied (a resumed stream may repeat its start)
      if (message.type === "trait_change") {
        const change = localize(message, this.truncated);
        applyChange(this.state, change);
        changes.push(change);
        this._emit("change", { change, state: this.state });
      } else if (message.type === "error" && this.me && message.to === this.me.id) {
        this._emit("refused", { code: message.code, detail: message.detail, trait: message.trait, msg_id: message.msg_id });
      }
    }
    this.seq = Math.max(this.seq, reply.seq);
    this._emit("batch", { changes, state: this.state, epoch: this.epoch, seq: this.seq });
  }

  // -- plumbing ---------------------------------------------------------------------------------
  async _fetch(method, path, body, signal) {
    const options = { method, credentials: "same-origin", headers: {}, signal };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(this.base + path, options);
    } catch (error) {
      return { status: 0, data: null, headers: new Headers() };
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, data, headers: response.headers };
  }

  _error(reply) {
    const retry = Number(reply.headers.get("Retry-After")) || undefined;
    if (reply.status === 0) return new TraitswebError(0, "unreachable", "the server could not be reached");
    return new TraitswebError(reply.status, reply.data && reply.data.error, reply.data && reply.data.detail, retry);
  }

  _loggedOut() {
    const was = this.me;
    this._running = false;
    this.me = null;
    this.state = null;
    this._setStatus("offline");
    if (was) this._emit("loggedout", {});
  }

  _setStatus(status, retryIn) {
    if (status === this.status && retryIn === undefined) return;
    this.status = status;
    this._emit("status", { status, retryIn });
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this._wake = null; resolve(); }, ms);
      this._wake = () => { clearTimeout(timer); this._wake = null; resolve(); };
    });
  }

  _retryNow() {
    this._delay = 0;
    if (this._wake) this._wake();
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
