"""A Python client of a traitsweb gateway: the shared model as a live ``HasTraits`` object.

::

    from traitsweb.client import RemoteModel

    with RemoteModel.connect("http://127.0.0.1:8000", "ada") as remote:
        remote.observe(print, "setpoint")   # fires on every change, whoever made it
        remote.setpoint = 30                # a write: RemoteError if the gateway refuses it
        remote.set("setpoint", 30, wait=True)   # ... and wait until the model applied (or refused) it
        remote.edit_traits()                # a Traits UI window on the shared model

:meth:`RemoteModel.connect` logs in over the gateway's HTTP API, reads
``/api/state`` and builds an instance of a class generated from the snapshot's
schema (:mod:`traitsweb.remote_traits`): one trait per property. A thread
follows the state (long-poll or SSE, like the browser client
``services/gateway/static/traitsweb.js``), applies each change with
:func:`traitsweb.state.apply_change` to a JSON copy and sets the traits.

Threads: remote changes are set on the follower thread, holding no lock the
caller could need, until :meth:`~RemoteModel.edit_traits` opens a window;
from then on they are handed to the GUI thread with pyface's
``GUI.invoke_later``, so Traits UI editors (and observers) run where Qt wants
them. Never call :meth:`~RemoteModel.wait_for` on the GUI thread then: the
changes it waits for are queued behind it. See ``docs/clients.md``.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from traits.api import Any as AnyTrait
from traits.api import Bool, Dict, Event, HasTraits, List, Str, TraitError

from traitsweb.bridge import encode_value
from traitsweb.remote_traits import from_json, remote_class
from traitsweb.state import apply_change, localize

__all__ = ["RemoteError", "RemoteModel"]

log = logging.getLogger(__name__)

#: answers after which a write is retried with the same msg_id (0: no answer at all)
TRANSIENT = frozenset({0, 502, 503, 504})
#: how long a held poll waits at most, seconds (the gateway's default)
POLL_TIMEOUT = 25.0
#: the follower's back-off after a failed request: first and longest, seconds
BACKOFF = (0.5, 15.0)
#: model refusals kept for a write whose 202 has not been read yet
_KEPT_REFUSALS = 1000


class RemoteError(Exception):
    """A write or request refused: ``code`` and ``detail`` as in docs/protocol.md; ``status`` 0 for the model."""

    def __init__(self, code: str, detail: str, *, status: int = 0, trait: str | None = None,
                 msg_id: str | None = None, retry_after: float = 0.0) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status
        self.trait = trait
        self.msg_id = msg_id
        #: seconds the gateway asked to wait before trying again (``Retry-After``), else 0
        self.retry_after = retry_after


class RemoteModel(HasTraits):
    """The shared model of a traitsweb gateway; use :meth:`connect` (the class is generated per schema)."""

    #: following the shared state live (False while reconnecting and once logged out)
    connected = Bool(False)
    #: the model's refusals of this client's writes, oldest first: ``{"code", "detail", "trait", "msg_id"}``
    errors = List(Dict(Str, AnyTrait()))
    #: fired with each refusal as it arrives
    refused = Event()

    _link = AnyTrait(transient=True)

    # -- connecting ---------------------------------------------------------------------------------
    @classmethod
    def connect(cls, url: str, name: str, *, transport: str = "poll", timeout: float = 30.0) -> RemoteModel:
        """Log in to the gateway at ``url`` as ``name`` and follow its model (``transport``: poll or sse).

        Returns at once after the first snapshot; the state is followed by a
        background thread until :meth:`close`. Raises :class:`RemoteError` if
        the gateway refuses the log-in (e.g. ``invalid_name``).
        """
        if transport not in ("poll", "sse"):
            raise ValueError("transport must be 'poll' or 'sse'")
        link = _Link(url.rstrip("/"), transport, timeout)
        try:
            link.login(name)
            snapshot = link.request("GET", "/api/state")
            klass = remote_class(snapshot["schema"], cls, name=f"{cls.__name__}Of{_class_suffix(url)}")
        except BaseException:
            link.close()  # logs out if the log-in went through
            raise
        remote = cast(RemoteModel, klass())
        HasTraits.__setattr__(remote, "_link", link)
        link.start(remote, snapshot)
        remote._watch_containers()
        return remote

    def close(self) -> None:
        """Log out and stop following (the instance keeps its last values)."""
        self._link.close()

    def __enter__(self) -> RemoteModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        link = self.__dict__.get("_link")
        if link is None or name not in link.properties or link.applying:
            super().__setattr__(name, value)
        else:
            self.set(name, value)

    def set(self, name: str, value: Any, *, wait: bool = False, timeout: float = 10.0, validate: bool = True) -> str:
        """Write ``value`` to the model's trait ``name``; returns the write's ``msg_id``.

        ``TraitError`` if the local trait refuses it, :class:`RemoteError` if the
        gateway does (``invalid_value``, ``not_writable``, ``logged_out``, ...).
        With ``wait``, also waits until the model applied it (its value is in
        the state; for a write-only trait, the next change published) or
        raises the model's refusal as :class:`RemoteError`, ``TimeoutError``
        after ``timeout`` seconds. Without it, a refusal arrives later in
        :attr:`errors` and :attr:`refused`. ``validate=False`` sends ``value``
        as it is, for the gateway and the model to judge.
        """
        link: _Link = self._link
        prop = link.properties.get(name)
        if prop is None:
            raise AttributeError(f"the model has no trait {name!r}")
        if prop.get("readOnly"):
            message = f"{name!r} is part of the model's state that clients cannot write"
            raise TraitError(message)  # type: ignore[no-untyped-call]  # traits' stubs leave it untyped
        validated = self.trait(name).validate(self, name, value) if validate else value
        encoded = encode_value(validated)
        seq = link.pushed[1]  # before sending: its effect may be set before the 202 is read
        msg_id = link.send(name, encoded)
        link.assign_written(self, name, validated, msg_id)
        if wait:
            self._wait_for_write(name, encoded, msg_id, seq, timeout)
        return msg_id

    def _wait_for_write(self, name: str, value: Any, msg_id: str, seq: int, timeout: float) -> None:
        link: _Link = self._link
        in_state = not link.properties[name].get("writeOnly")

        def settled() -> bool:
            if msg_id in link.refusals:
                return True
            if in_state:  # in the state, and the traits set from it (they may lag on the GUI thread)
                return bool(link.values.get(name) == value and link.pushed == (link.epoch, link.seq))
            return link.pushed_seq > seq

        link.wait(settled, timeout, f"the write of {name!r} was not seen within {timeout} s")
        refusal = link.refusals.get(msg_id)
        if refusal is not None:
            raise RemoteError(refusal["code"], refusal["detail"], trait=name, msg_id=msg_id)

    def _watch_containers(self) -> None:
        """A writable list, dict or set changed in place is sent whole, as if assigned."""
        for name, prop in self._link.properties.items():
            if not prop.get("readOnly") and prop.get("type") in ("array", "object"):
                self.observe(lambda event, name=name: self._send_container(name), f"{name}:items")

    def _send_container(self, name: str) -> None:
        link = self._link
        if link.applying:
            return
        try:
            self.set(name, getattr(self, name))
        except (RemoteError, TraitError) as exc:  # no caller to raise to: reported like a model's refusal
            if name in link.values:
                link.assign(self, name, from_json(self.trait(name).handler, copy.deepcopy(link.values[name])))
            report = {"code": getattr(exc, "code", "invalid_value"), "detail": getattr(exc, "detail", str(exc)),
                      "trait": name, "msg_id": None}
            self.errors.append(report)
            self.refused = report

    # -- waiting ------------------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[RemoteModel], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate(self)`` is true after remote changes were set; ``TimeoutError`` otherwise."""
        self._link.wait(lambda: predicate(self), timeout, f"not true within {timeout} s")

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until the traits show everything the gateway had published when this was called."""
        link = self._link
        epoch, seq = link.position()
        link.wait(lambda: link.pushed[0] == epoch and link.pushed[1] >= seq, timeout,
                  f"not caught up with seq {seq} within {timeout} s")

    # -- the window ---------------------------------------------------------------------------------
    def edit_traits(self, view: Any = None, parent: Any = None, kind: Any = None, context: Any = None,
                    handler: Any = None, id: str = "", scrollable: Any = None, **args: Any) -> Any:
        """A Traits UI window on the shared model; remote changes are then set on the GUI thread."""
        self._link.use_gui()
        return super().edit_traits(view=view, parent=parent, kind=kind, context=context, handler=handler, id=id,
                                   scrollable=scrollable, **args)

    def default_traits_view(self) -> Any:
        """One item per model trait (``x-order``, then name); the model's read-only state read-only."""
        from traitsui.api import Item, TextEditor, View  # type: ignore[import-untyped]  # no type information

        order = sorted(self._link.properties.items(), key=lambda item: (item[1].get("x-order", float("inf")), item[0]))
        items = [
            Item(name, style="readonly") if prop.get("readOnly")
            # text is written when typed in (Enter, leaving the field), not once per key
            else Item(name, editor=TextEditor(auto_set=False, enter_set=True)) if prop.get("type") == "string"
            else Item(name)
            for name, prop in order
        ]
        return View(*items, Item("connected", style="readonly"), title=f"traitsweb: {self._link.url}",
                    resizable=True)


def _class_suffix(url: str) -> str:
    host = urlsplit(url).netloc or url
    return "".join(c if c.isalnum() else "_" for c in host)


class _Link:
    """One session on the gateway: requests, the follower thread and the JSON copy of the state."""

    def __init__(self, url: str, transport: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.url = url
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.transport = transport
        self.timeout = timeout
        self.http = httpx.Client(base_url=url, timeout=httpx.Timeout(timeout, read=POLL_TIMEOUT + timeout))
        self.follow_http = httpx.Client(base_url=url, timeout=httpx.Timeout(timeout, read=POLL_TIMEOUT + timeout))
        self.session_id = ""
        self.properties: dict[str, dict[str, Any]] = {}
        self.values: dict[str, Any] = {}
        #: list traits held only from an absolute index on (a truncated /api/state): that index
        self.offsets: dict[str, int] = {}
        self.epoch = ""
        self.seq = 0
        #: where the traits are: (epoch, seq) of the last batch set on them
        self.pushed: tuple[str, int] = ("", -1)
        self.refusals: dict[str, dict[str, Any]] = {}
        self.logged_out = False
        self._lock = threading.Lock()
        #: orders a written value and the model's refusal of it (whichever thread is first)
        self._written = threading.RLock()
        self._changed = threading.Condition()
        self._local = threading.local()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gui: Any = None

    # -- requests -------------------------------------------------------------------------------------
    def login(self, name: str) -> None:
        reply = self.request("POST", "/api/login", {"name": name}, retry=True)
        self.session_id = reply["id"]
        headers = {"Authorization": f"Bearer {reply['session']}"}
        self.http.cookies.clear()  # the token, not the browser cookie, names the session
        self.http.headers.update(headers)
        self.follow_http.headers.update(headers)

    def request(self, method: str, path: str, body: Any = None, *, retry: bool = False,
                http: httpx.Client | None = None) -> Any:
        """One request; its JSON reply, or RemoteError. ``retry``: retried while the answer is transient."""
        headers = {"Origin": self.origin} if method == "POST" else {}
        delay = BACKOFF[0]
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                response = (http or self.http).request(method, path, json=body, headers=headers)
                status, data = response.status_code, _json(response)
                retry_after = _seconds(response.headers.get("retry-after", ""))
            except httpx.TransportError as exc:
                status, data = 0, {"error": "unreachable", "detail": f"the gateway could not be reached: {exc}"}
                retry_after = 0.0
            if 200 <= status < 300:
                return data
            error = RemoteError(str(data.get("error", f"http_{status}")), str(data.get("detail", "")), status=status,
                                retry_after=retry_after)
            if status == 401:
                self.mark_logged_out()
            wait = max(delay, retry_after)
            if not retry or status not in TRANSIENT or time.monotonic() + wait > deadline:
                raise error
            time.sleep(wait)
            delay = min(delay * 2, BACKOFF[1])

    def send(self, trait: str, value: Any) -> str:
        """POST /api/send with one msg_id however often it is retried; the gateway's msg_id."""
        if self.logged_out:
            raise RemoteError("logged_out", "this client is logged out; connect again", status=401)
        reply = self.request("POST", "/api/send", {"trait": trait, "value": value, "msg_id": uuid.uuid4().hex[:24]},
                             retry=True)
        return str(reply["msg_id"])

    def position(self) -> tuple[str, int]:
        """The gateway's current (epoch, seq), from a poll that returns at once."""
        reply = self.request("GET", f"/api/poll?since={self.seq}&epoch={self.epoch}&timeout=0")
        return reply["epoch"], reply["seq"]

    # -- following ------------------------------------------------------------------------------------
    def start(self, remote: RemoteModel, snapshot: dict[str, Any]) -> None:
        self.properties = snapshot["schema"].get("properties", {})
        self._remote = remote
        self._receive({"reset": True, **snapshot})
        self.assign(remote, "connected", True)
        self._thread = threading.Thread(target=self._follow, name=f"traitsweb-follower {self.url}", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            try:
                if self.transport == "poll":
                    self._receive(self.request("GET", f"/api/poll?since={self.seq}&epoch={self.epoch}"
                                                      f"&timeout={POLL_TIMEOUT:g}", http=self.follow_http))
                    self._set_connected(True)
                else:
                    self._stream()
                delay = 0.0
            except Exception as exc:  # noqa: BLE001  # the follower outlives any one failed request or reply
                if self._stop.is_set() or self.logged_out:
                    break
                self._set_connected(False)
                delay = min(max(delay * 2, BACKOFF[0]), BACKOFF[1])
                if isinstance(exc, RemoteError):  # e.g. 429 rate_limited, 503 not_ready
                    delay = max(delay, exc.retry_after)
                log.info("traitsweb: %s; retrying in %.1f s", exc, delay)
                self._stop.wait(delay)
        self._set_connected(False)

    def _stream(self) -> None:
        """One SSE stream from the current position until it ends."""
        path = f"/api/events?since={self.seq}&epoch={self.epoch}"
        with self.follow_http.stream("GET", path) as response:
            if response.status_code != 200:
                response.read()
                body = _json(response)
                if response.status_code == 401:
                    self.mark_logged_out()
                raise RemoteError(str(body.get("error", "")), str(body.get("detail", "")), status=response.status_code)
            self._set_connected(True)
            for event, data in _events(response.iter_lines()):
                if event in ("batch", "reset"):
                    self._receive(json.loads(data))
                elif event == "logged_out":
                    self.mark_logged_out()
                    return
                elif event == "error":
                    body = json.loads(data)
                    raise RemoteError(body.get("error", "error"), body.get("detail", ""), status=503)
                if self._stop.is_set():
                    return

    def _receive(self, reply: dict[str, Any]) -> None:
        """Apply one poll/stream reply to the JSON copy; then set the traits (here or on the GUI thread)."""
        with self._lock:
            if reply.get("reset"):
                self.values = copy.deepcopy(reply["state"])
                self.offsets = {name: count for name, count in reply.get("truncated", {}).items() if count}
                self.epoch, self.seq = reply["epoch"], reply["seq"]
                names = list(self.values)
                refusals: list[dict[str, Any]] = []
            else:
                if reply["epoch"] != self.epoch:
                    return  # a stale reply: the next poll gets a reset
                names, refusals = [], []
                for message in reply["messages"]:
                    if message["seq"] <= self.seq:
                        continue  # already applied (a resumed stream may repeat its start)
                    if message["type"] == "trait_change":
                        apply_change(self.values, localize(message, self.offsets))
                        names.append(message["trait"])
                    elif message["type"] == "error" and message.get("to") == self.session_id:
                        refusals.append(message)
                    self.seq = message["seq"]
                self.seq = max(self.seq, reply["seq"])
            position = (self.epoch, self.seq)
        self._deliver(lambda: self._push(dict.fromkeys(names), refusals, position))

    def _push(self, names: dict[str, None], refusals: list[dict[str, Any]], position: tuple[str, int]) -> None:
        """Set the changed traits from the JSON copy (never sent back as writes), then report refusals."""
        remote = self._remote
        with self._lock:
            values = {name: copy.deepcopy(self.values[name]) for name in names if name in self.values}
        for name, value in values.items():
            if name in self.properties:
                self.assign(remote, name, from_json(remote.trait(name).handler, value))
        for message in refusals:
            refusal = {key: message.get(key) for key in ("code", "detail", "trait", "msg_id")}
            with self._written:
                self.refusals[str(message.get("msg_id"))] = refusal
                while len(self.refusals) > _KEPT_REFUSALS:
                    del self.refusals[next(iter(self.refusals))]
                trait = refusal["trait"]
                if trait in self.values and trait in self.properties:  # undo the written value: the state is the truth
                    self.assign(remote, trait, from_json(remote.trait(trait).handler, copy.deepcopy(self.values[trait])))
            remote.errors.append(refusal)
            remote.refused = refusal
        with self._changed:
            self.pushed = position
            self._changed.notify_all()

    def assign_written(self, remote: RemoteModel, name: str, value: Any, msg_id: str) -> None:
        """Show a value the gateway accepted, unless the model's refusal of it already came."""
        with self._written:
            if msg_id not in self.refusals:
                self.assign(remote, name, value)

    def assign(self, remote: RemoteModel, name: str, value: Any) -> None:
        """Set a trait without sending it (a remote change, or the value just written)."""
        self._local.applying = True
        try:
            remote.trait_set(**{name: value})
        except TraitError:
            log.warning("traitsweb: the model's %r does not fit its schema: %r", name, value, exc_info=True)
        finally:
            self._local.applying = False

    @property
    def applying(self) -> bool:
        return getattr(self._local, "applying", False)

    @property
    def pushed_seq(self) -> int:
        return self.pushed[1]

    def _deliver(self, work: Callable[[], None]) -> None:
        if self._gui is not None:
            self._gui.invoke_later(work)
        else:
            work()

    def use_gui(self) -> None:
        """From now on set remote changes on the GUI thread (pyface is imported only here)."""
        if self._gui is None:
            from pyface.api import GUI  # type: ignore[import-untyped]  # no type information

            self._gui = GUI

    def _set_connected(self, value: bool) -> None:
        if self._remote.connected != value:
            self._deliver(lambda: self.assign(self._remote, "connected", value and not self.logged_out))

    def mark_logged_out(self) -> None:
        self.logged_out = True
        self._stop.set()
        if getattr(self, "_remote", None) is not None:
            self._deliver(lambda: self.assign(self._remote, "connected", False))

    def wait(self, predicate: Callable[[], bool], timeout: float, message: str) -> None:
        with self._changed:
            if not self._changed.wait_for(predicate, timeout):
                raise TimeoutError(message)

    def close(self) -> None:
        self._stop.set()
        if not self.logged_out:
            try:
                self.request("POST", "/api/logout")
            except RemoteError as exc:
                log.info("traitsweb: log-out failed: %s", exc)
            self.logged_out = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.timeout)
        self.http.close()
        self.follow_http.close()
        if getattr(self, "_remote", None) is not None:
            self._deliver(lambda: self.assign(self._remote, "connected", False))


def _seconds(value: str) -> float:
    """A ``Retry-After`` in seconds (the HTTP-date form is not used by the gateway: 0)."""
    try:
        return max(0.0, min(float(value), 60.0))
    except ValueError:
        return 0.0


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Server-Sent Events as ``(event, data)``; comments and ``id``/``retry`` fields skipped."""
    event, data = "message", cast(list[str], [])
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
