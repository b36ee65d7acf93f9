from __future__ import annotations

from typing import Any

import pytest
from traits.api import BaseStr, TraitError

from services.model.chat import Chat, create
from tests.models.counter import create as create_counter
from tests.observers import reraise_observer_errors  # noqa: F401 - autouse
from traitsweb.bridge import Bridge, BridgeError, SessionHandler, SharedModel
from traitsweb.state import apply_change

A = "a" * 32
B = "b" * 32


def bridged(model: Any) -> tuple[Bridge, list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    return Bridge(model, out.append), out


def test_chat_exposes_state_and_writable_schema() -> None:
    bridge, _ = bridged(create())
    assert bridge.exposed == ["average_rating", "connection_ratings", "messages", "participants"]
    assert bridge.writable == {
        "entry_field": {"type": "string", "maxLength": 2000, "minLength": 1, "default": "", "writeOnly": True},
        "rating_selector": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3, "writeOnly": True},
    }
    message = {"type": "object", "properties": {"text": {"type": "string"}, "time": {"type": "number"},
                                                "user": {"type": "string"}}}
    assert bridge.schema == {
        "type": "object",
        "properties": {
            "average_rating": {"type": "number", "default": 0.0, "readOnly": True},
            "connection_ratings": {"type": "object", "additionalProperties": {"type": "integer"}, "readOnly": True},
            "messages": {"type": "array", "items": message, "readOnly": True},
            "participants": {"type": "object", "additionalProperties": {"type": "string"}, "readOnly": True},
            "entry_field": bridge.writable["entry_field"],
            "rating_selector": bridge.writable["rating_selector"],
        },
    }


def test_handler_writes_become_item_changes() -> None:
    chat = create()
    chat.clock = lambda: 100.0
    bridge, out = bridged(chat)
    assert bridge.login(A, "alice")
    assert not bridge.login(A, "alice")  # idempotent: no second handler, no change
    bridge.write(A, "entry_field", "hi")
    bridge.write(A, "entry_field", "hi")  # the same text twice is two messages
    bridge.write(A, "rating_selector", 4)
    assert out == [
        {"type": "trait_change", "trait": "participants", "op": "dict", "set": {A: "alice"}, "removed": []},
        {"type": "trait_change", "trait": "messages", "op": "list", "index": 0, "removed": 0,
         "added": [{"user": "alice", "text": "hi", "time": 100.0}]},
        {"type": "trait_change", "trait": "messages", "op": "list", "index": 1, "removed": 0,
         "added": [{"user": "alice", "text": "hi", "time": 100.0}]},
        {"type": "trait_change", "trait": "average_rating", "op": "set", "value": 4.0},
        {"type": "trait_change", "trait": "connection_ratings", "op": "dict", "set": {A: 4}, "removed": []},
    ]


def test_stream_of_changes_rebuilds_the_state() -> None:
    chat = create()
    bridge, out = bridged(chat)
    state = bridge.state()
    bridge.login(A, "alice")
    bridge.login(B, "bob")
    for text in ("one", "two", "three"):
        bridge.write(A, "entry_field", text)
    bridge.write(A, "rating_selector", 2)
    bridge.write(B, "rating_selector", 5)
    bridge.write(B, "rating_selector", 4)
    bridge.logout(A)
    for message in out:
        apply_change(state, message)
    assert state == bridge.state()
    assert state["average_rating"] == 4.0
    assert state["participants"] == {B: "bob"}


@pytest.mark.parametrize(
    ("session", "trait", "value", "code", "detail"),
    [
        (B, "entry_field", "hi", "unknown_session", "this session is not logged in"),
        (A, "participants", {}, "not_writable", "'participants' is not a trait clients may set"),
        (A, "model", None, "not_writable", "'model' is not a trait clients may set"),
        (A, "rating_selector", 6, "invalid_value", "must be 1 <= an integer <= 5"),
        (A, "rating_selector", "5", "invalid_value", "must be 1 <= an integer <= 5"),
        (A, "entry_field", "", "invalid_value", "must be a string of 1 to 2000 characters"),
        (A, "entry_field", 5, "invalid_value", "must be a string of 1 to 2000 characters"),
        (A, "entry_field", "x" * 2001, "invalid_value", "must be a string of 1 to 2000 characters"),
    ],
)
def test_bad_writes_are_refused_and_change_nothing(session: str, trait: str, value: Any, code: str, detail: str) -> None:
    bridge, out = bridged(create())
    bridge.login(A, "alice")
    before, emitted = bridge.state(), len(out)
    with pytest.raises(BridgeError) as info:
        bridge.write(session, trait, value)
    assert (info.value.code, info.value.detail) == (code, detail)
    assert bridge.state() == before and len(out) == emitted


def test_restore_recreates_objects_and_handlers_silently() -> None:
    bridge, _ = bridged(create())
    bridge.login(A, "alice")
    bridge.write(A, "entry_field", "saved")
    bridge.write(A, "rating_selector", 2)
    saved = bridge.state()
    chat = Chat()
    restored, out = bridged(chat)
    restored.restore(saved)
    assert out == [] and restored.state() == saved
    assert chat.messages[0].text == "saved" and set(restored.handlers) == {A}
    restored.write(A, "entry_field", "again")
    assert chat.messages[-1].user == "alice"


def test_message_history_is_capped_by_dropping_the_oldest() -> None:
    chat = create()
    chat.max_messages = 3
    bridge, out = bridged(chat)
    bridge.login(A, "a")
    for n in range(5):
        bridge.write(A, "entry_field", str(n))
    assert [m.text for m in chat.messages] == ["2", "3", "4"]
    state = {"messages": []}
    for message in out:
        if message["trait"] == "messages":
            apply_change(state, message)
    assert [m["text"] for m in state["messages"]] == ["2", "3", "4"]


def test_a_second_model_needs_no_change_to_the_bridge() -> None:
    bridge, out = bridged(create_counter())
    assert bridge.exposed == ["colours", "history", "participants", "total"]
    assert bridge.writable == {
        "increment": {"type": "integer", "minimum": -10, "maximum": 10, "default": 0, "writeOnly": True},
        "colour": {"enum": ["red", "green", "blue"], "default": "red", "writeOnly": True},
    }
    assert bridge.schema["properties"]["colours"] == {
        "type": "array", "items": {"type": "string"}, "uniqueItems": True, "readOnly": True}
    state = bridge.state()
    bridge.login(A, "x")
    bridge.write(A, "increment", 3)
    bridge.write(A, "increment", 4)
    bridge.write(A, "colour", "blue")
    with pytest.raises(BridgeError):
        bridge.write(A, "colour", "pink")
    for message in out:
        apply_change(state, message)
    assert state == bridge.state() == {"colours": ["blue"], "history": [3, 7], "participants": {A: "x"}, "total": 7}
    assert {m["op"] for m in out} == {"dict", "set", "list", "set_items"}


class _Picky(BaseStr):
    """A trait whose refusal says something else than its description (the detail must not parse it)."""

    def validate(self, object: Any, name: str, value: Any) -> str:
        if value == "ok":
            return value
        raise TraitError("The 'x' trait of a Y instance must be ..., but a value of nonsense was specified.")

    def info(self) -> str:
        return "the string 'ok'"


class _PickyHandler(SessionHandler):
    word = _Picky(client=True)


class _PickyModel(SharedModel):
    handler_class = _PickyHandler


def test_a_refusal_is_described_by_the_trait_not_by_the_exception_text() -> None:
    bridge, _ = bridged(_PickyModel())
    bridge.login(A, "a")
    bridge.write(A, "word", "ok")
    with pytest.raises(BridgeError) as info:
        bridge.write(A, "word", "no")
    assert (info.value.code, info.value.detail) == ("invalid_value", "must be the string 'ok'")
