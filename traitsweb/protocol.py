"""The traitsweb message protocol: destinations, frame headers, message shapes.

Every service encodes and decodes messages through this module and nowhere
else, so the wire format lives in one place. ``docs/protocol.md`` is its prose
description; keep the two in step.

Three channels:

* the **input** queue carries client writes (:class:`Input`);
* the **control** queue carries :class:`Login`, :class:`Logout`,
  :class:`Touch` and :class:`SnapshotRequest`;
* the **out** topic carries everything the model publishes. Every out message
  is a JSON object with ``type``, ``epoch`` and ``seq``; see :func:`out_message`.
  A message private to one session (``to``) goes to that session's private
  routing key instead (:func:`private_destination`), and the out topic gets
  a :data:`PLACEHOLDER` with its ``seq``, so every reader's ``seq`` stays gap-free.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "CHECKPOINTS",
    "CHECKPOINTS_WRITE",
    "CONTROL",
    "INPUT",
    "JOURNAL",
    "JOURNAL_WRITE",
    "MAX_BODY_BYTES",
    "MSG_ID_MAX",
    "NAME_MAX",
    "OUT",
    "LEGACY_QUEUES",
    "PLACEHOLDER",
    "PRIVATE",
    "SEND_HEADERS",
    "USER_ID",
    "USER_NAME_RE",
    "Input",
    "Login",
    "Logout",
    "ProtocolError",
    "SnapshotRequest",
    "Touch",
    "check_reply_to",
    "check_value",
    "decode_control",
    "decode_input",
    "decode_out",
    "consuming",
    "durable_out_headers",
    "encode",
    "gateway_stream",
    "out_message",
    "private_destination",
    "recipient",
]

# Default destinations (each is configurable through the services' settings). Clients send to the
# model's quorum queues through the broker's direct exchange ``traitsweb`` (keys ``in.quorum`` and
# ``control.quorum``, bound to the queues ``traitsweb.in.quorum`` and ``traitsweb.control.quorum`` by the
# broker's definitions): a SEND there never declares, and a client's ``write`` on that exchange reaches
# those two queues and no other (the default exchange would reach any queue by name). Nobody declares
# them but the broker's definitions; the model consumes them by name (:func:`consuming`).
INPUT = "/exchange/traitsweb/in.quorum"
CONTROL = "/exchange/traitsweb/control.quorum"
#: the classic queues of releases before the quorum ones (a queue's type cannot change, so the quorum
#: queues have new names); ``traitsweb upgrade`` moves what they still hold (``runner/upgrade.py``)
LEGACY_QUEUES = {"traitsweb.control": CONTROL, "traitsweb.in": INPUT}  # log-ins before the input they allow
OUT = "/topic/traitsweb.out"
#: the prefix of routing keys private to the sessions a desktop user logged in:
#: ``traitsweb.private.<user>.<session>`` (RabbitMQ's topic permissions let each desktop user bind only its own)
PRIVATE = "/topic/traitsweb.private"
#: the type of what the out topic carries in place of a private message (same ``epoch`` and ``seq``, nothing else)
PLACEHOLDER = "private"
#: the word after the out topic's key in keys private to the sessions gateways act for
_GATEWAYS = "gateway"
#: broker user names that can be a word of a routing key (no ``.``, ``*`` or ``#``)
USER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: where the broker dead-letters the frames the model rejects (a policy of the broker's definitions)
DEAD = "/amq/queue/traitsweb.dead"
#: the model's journal: written through an exchange only the model may write, read from the stream behind it
#: (docs/protocol.md, "The journal"); gateways read it to replay what a client missed
JOURNAL_WRITE = "/exchange/traitsweb.journal"
JOURNAL = "/amq/queue/traitsweb.journal"
CHECKPOINTS_WRITE = "/exchange/traitsweb.checkpoints"
CHECKPOINTS = "/amq/queue/traitsweb.checkpoints"

#: The header naming the sending service: RabbitMQ refuses a SEND whose ``user-id`` is not the
#: connection's own login, and passes it on to the consumer; the model refuses frames without it.
USER_ID = "user-id"
#: on an out-topic frame: more frames of the same change follow at once (one input's or one tick's out
#: messages but the last carry it), so a consumer may hold its wake-ups until the frame without it
MORE = "more"
#: Where a snapshot may be sent: a temporary reply queue (RabbitMQ turns a sender's
#: ``/temp-queue/NAME`` into ``/reply-queue/amq.gen-...``), never a shared queue or topic.
_REPLY_TO = re.compile(r"^/(?:temp-queue/[A-Za-z0-9._-]{1,64}|reply-queue/amq\.gen-[A-Za-z0-9_-]{1,64})$")

#: How long a replica's durable out-topic queue outlives its last consumer (see :func:`durable_out_headers`).
DURABLE_OUT_EXPIRES_MS = 60_000


def durable_out_headers(replica: str) -> dict[str, str]:
    """SUBSCRIBE headers that give one reader of the out topic a queue that survives a broker node.

    A plain ``/topic`` subscription's queue is deleted with its connection: whatever is published while
    the reader moves to another node is lost to it, and it must reload the whole state (its clients get a
    reset). On a cluster a reader instead keeps a durable quorum queue of its own, named for it (so a
    reconnect, or a restart of the same replica, finds it again, with what arrived meanwhile), and
    acknowledges each message; the queue expires a minute after its reader is gone for good. The
    ``stomp-subscription-`` prefix is what the broker's permissions let clients declare.
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", replica):
        raise ValueError(f"a replica name for a durable subscription may hold only A-Z a-z 0-9 . _ - (got {replica!r})")
    return {
        "durable": "true", "auto-delete": "false", "x-queue-type": "quorum",
        "x-queue-name": f"stomp-subscription-traitsweb.out.{replica}",
        "x-expires": str(DURABLE_OUT_EXPIRES_MS), "prefetch-count": "1000",
    }


#: Headers for SEND to our queues: persistent messages in durable queues.
SEND_HEADERS: dict[str, str] = {
    "persistent": "true",
    "content-type": "application/json",
}

#: The largest message body any service accepts on any channel.
MAX_BODY_BYTES = 64 * 1024
#: Session ids are 32 lower-case hex digits (128 bits of randomness).
SESSION_RE = re.compile(r"^[0-9a-f]{32}$")
_MAX_DEPTH = 32


class ProtocolError(ValueError):
    """A message that does not follow the protocol. ``code`` is machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)
SessionId = Annotated[str, Field(pattern=SESSION_RE.pattern)]
MSG_ID_MAX = 64
MsgId = Annotated[str, Field(min_length=1, max_length=MSG_ID_MAX)]
#: a participant's display name, in characters
NAME_MAX = 64
TraitName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class Input(BaseModel):
    """A client's write of one trait, stamped by the gateway with the session id."""

    model_config = _STRICT
    id: SessionId
    trait: TraitName
    value: Any = None
    msg_id: MsgId


class Login(BaseModel):
    model_config = _STRICT
    type: Literal["login"]
    id: SessionId
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    msg_id: MsgId | None = None


class Logout(BaseModel):
    model_config = _STRICT
    type: Literal["logout"]
    id: SessionId
    reason: Annotated[str, Field(max_length=64)] = "logout"
    msg_id: MsgId | None = None


class Touch(BaseModel):
    """A gateway replica's report of the sessions it served lately (for idle logout)."""

    model_config = _STRICT
    type: Literal["touch"]
    ids: Annotated[list[SessionId], Field(max_length=100_000)]
    replica: Annotated[str, Field(max_length=128)] = ""


class SnapshotRequest(BaseModel):
    """Asks for the full state; the answer goes to the frame's ``reply-to``."""

    model_config = _STRICT
    type: Literal["snapshot_request"]


Control = Annotated[
    Login | Logout | Touch | SnapshotRequest, Field(discriminator="type")
]
_CONTROL: TypeAdapter[Login | Logout | Touch | SnapshotRequest] = TypeAdapter(Control)


def encode(message: Any) -> str:
    """Compact JSON text for a message (the one encoding used on every channel)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _depth(value: Any, depth: int = 0) -> int:
    if depth > _MAX_DEPTH:
        return depth
    if isinstance(value, dict):
        return max((_depth(v, depth + 1) for v in value.values()), default=depth + 1)
    if isinstance(value, list):
        return max((_depth(v, depth + 1) for v in value), default=depth + 1)
    return depth


def _load(body: str | bytes) -> Any:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise ProtocolError("too_large", f"message of {len(raw)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"not JSON: {exc}") from None
    if _depth(value) > _MAX_DEPTH:
        raise ProtocolError("too_deep", f"JSON nested deeper than {_MAX_DEPTH}")
    if not isinstance(value, dict):
        raise ProtocolError("bad_shape", "a message is a JSON object")
    return value


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    return f"{where}: {first['msg']}"


def decode_input(body: str | bytes) -> Input:
    """Parse an input-queue message, or raise :class:`ProtocolError`."""
    value = _load(body)
    try:
        return Input.model_validate(value)
    except ValidationError as exc:
        raise ProtocolError("bad_shape", _explain(exc)) from None


def decode_control(body: str | bytes) -> Login | Logout | Touch | SnapshotRequest:
    """Parse a control-queue message, or raise :class:`ProtocolError`."""
    value = _load(body)
    try:
        return _CONTROL.validate_python(value)
    except ValidationError as exc:
        raise ProtocolError("bad_shape", _explain(exc)) from None


def decode_out(body: str | bytes) -> dict[str, Any]:
    """Parse an out-topic message (an object with ``type``, ``epoch`` and ``seq``)."""
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise ProtocolError("bad_json", f"not JSON: {exc}") from None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("type"), str)
        or not isinstance(value.get("epoch"), str)
        or not isinstance(value.get("seq"), int)
    ):
        raise ProtocolError("bad_shape", "an out message has type, epoch and seq")
    return value


def consuming(destination: str) -> str:
    """The destination that consumes the queue a send destination reaches, without declaring it:
    ``/amq/queue/E.K`` for ``/exchange/E/K`` (the broker's definitions bind queue ``E.K`` to exchange ``E``
    with key ``K``); any other destination as it is.

    The broker's definitions declare the model's queues with ``x-single-active-consumer``: however many
    subscriptions a queue has (a model that moved to another node while its old connection still holds
    frames, or two models at once), one receives, in the queue's order, and the next only once that one's
    connection is gone, with what it held unacknowledged first.
    """
    if destination.startswith("/exchange/"):
        return "/amq/queue/" + destination[len("/exchange/"):].replace("/", ".")
    return destination


def check_reply_to(reply_to: str | None) -> str:
    """A snapshot request's ``reply-to``, if it names a temporary reply queue, else :class:`ProtocolError`."""
    if reply_to is None:
        raise ProtocolError("bad_reply_to", "a snapshot request needs a reply-to header")
    if not _REPLY_TO.fullmatch(reply_to):
        raise ProtocolError("bad_reply_to", f"reply-to {reply_to[:80]!r} is not a temporary reply queue")
    return reply_to


def recipient(text: str) -> str | None:
    """The session an encoded out message is private to (its ``to``), or None."""
    try:
        to = json.loads(text).get("to")
    except (ValueError, AttributeError):
        return None
    return to if isinstance(to, str) else None


def gateway_stream(out: str) -> str:
    """What a gateway subscribes to: the out topic and every key private to a session gateways act for.

    One subscription is one queue, so the private messages come in ``seq`` order among the others.
    """
    return f"{out}.#"


def private_destination(out: str, private: str, session: str, *, desktop: str | None) -> str:
    """Where a message private to ``session`` goes: under the out topic's key for a session gateways act
    for, under ``private`` and its owner's name for a session the desktop user ``desktop`` logged in."""
    if desktop is None:
        return f"{out}.{_GATEWAYS}.{session}"
    return f"{private}.{desktop}.{session}"


def out_message(kind: str, epoch: str, seq: int, **fields: Any) -> dict[str, Any]:
    """Build an out message. ``to`` (a session id) makes it private to one session."""
    return {"type": kind, "epoch": epoch, "seq": seq, **fields}


def check_value(schema: dict[str, Any], value: Any) -> str | None:
    """Check ``value`` against a writable trait's schema (as the model publishes it).

    Returns ``None`` when the value fits, else a sentence saying why not. The
    model's own Traits validation stays the authority; this lets a gateway
    answer at once instead of after a round trip. Only the keywords the model
    publishes are checked (see docs/protocol.md); ``{}`` accepts any JSON.
    """
    problem = _check_type(schema, value)
    if problem is None and "enum" in schema and value not in schema["enum"]:
        problem = f"must be one of {schema['enum']}"
    return problem


def _check_type(schema: dict[str, Any], value: Any) -> str | None:
    kind = schema.get("type")
    if kind == "string":
        return _check_string(schema, value)
    if kind in ("integer", "number"):
        return _check_number(schema, value)
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "array":
        return _check_array(schema, value)
    if kind == "object":
        return _check_object(schema, value)
    return None


def _check_string(schema: dict[str, Any], value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"must be at most {schema['maxLength']} characters"
    if "minLength" in schema and len(value) < schema["minLength"]:
        return "must not be empty" if schema["minLength"] == 1 else f"must be at least {schema['minLength']} characters"
    return None


def _check_number(schema: dict[str, Any], value: Any) -> str | None:
    if schema["type"] == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return "must be an integer"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number"
    if "minimum" in schema and value < schema["minimum"]:
        return f"must be at least {schema['minimum']}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return f"must be more than {schema['exclusiveMinimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"must be at most {schema['maximum']}"
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        return f"must be less than {schema['exclusiveMaximum']}"
    return None


def _check_array(schema: dict[str, Any], value: Any) -> str | None:
    if not isinstance(value, list):
        return "must be an array"
    if "minItems" in schema and len(value) < schema["minItems"]:
        return f"must have at least {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"must have at most {schema['maxItems']} items"
    items = schema.get("items", {})
    for index, item in enumerate(value):
        problem = check_value(items, item)
        if problem:
            return f"item {index} {problem}"
    if schema.get("uniqueItems") and any(item in value[:index] for index, item in enumerate(value)):
        return "must not repeat an item"
    return None


def _check_object(schema: dict[str, Any], value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    values = schema.get("additionalProperties", {})
    for key, item in value.items():
        problem = check_value(schema.get("properties", {}).get(key, values), item)
        if problem:
            return f"item {key[:64]!r} {problem}"
    return None
