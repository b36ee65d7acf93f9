from __future__ import annotations

import json

import pytest

from traitsweb import protocol
from traitsweb.protocol import ProtocolError

SID = "0123456789abcdef0123456789abcdef"


def test_input_round_trip() -> None:
    body = protocol.encode({"id": SID, "trait": "entry_field", "value": "héllo", "msg_id": "m1"})
    message = protocol.decode_input(body)
    assert (message.id, message.trait, message.value, message.msg_id) == (SID, "entry_field", "héllo", "m1")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_shape"),
        (json.dumps({"id": SID, "trait": "x", "value": 1}), "bad_shape"),  # no msg_id
        (json.dumps({"id": "ALICE", "trait": "x", "value": 1, "msg_id": "m"}), "bad_shape"),
        (json.dumps({"id": SID, "trait": "no spaces", "value": 1, "msg_id": "m"}), "bad_shape"),
        (json.dumps({"id": SID, "trait": "x", "value": 1, "msg_id": "m", "extra": 1}), "bad_shape"),
        (json.dumps({"id": SID, "trait": "x", "value": "a" * protocol.MAX_BODY_BYTES, "msg_id": "m"}), "too_large"),
        ('{"id":' + "[" * 100 + "]" * 100 + "}", "too_deep"),
        (b"\xff\xfe", "bad_json"),
    ],
)
def test_bad_input_is_refused_with_a_code(body: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_input(body)
    assert info.value.code == code


def test_control_messages() -> None:
    login = protocol.decode_control(protocol.encode({"type": "login", "id": SID, "name": "alice"}))
    assert isinstance(login, protocol.Login) and login.name == "alice"
    touch = protocol.decode_control(protocol.encode({"type": "touch", "ids": [SID], "replica": "g1"}))
    assert isinstance(touch, protocol.Touch) and touch.ids == [SID]
    assert isinstance(protocol.decode_control('{"type":"snapshot_request"}'), protocol.SnapshotRequest)
    with pytest.raises(ProtocolError):
        protocol.decode_control(protocol.encode({"type": "login", "id": SID, "name": ""}))
    with pytest.raises(ProtocolError):
        protocol.decode_control(protocol.encode({"type": "shutdown"}))


def test_out_messages_need_type_epoch_seq() -> None:
    message = protocol.out_message("trait_change", "e1", 3, trait="x", op="set", value=1)
    assert protocol.decode_out(protocol.encode(message)) == message
    with pytest.raises(ProtocolError):
        protocol.decode_out('{"type": "trait_change", "seq": 1}')


@pytest.mark.parametrize(
    ("schema", "value", "ok"),
    [
        ({"type": "integer", "minimum": 1, "maximum": 5}, 3, True),
        ({"type": "integer", "minimum": 1, "maximum": 5}, 6, False),
        ({"type": "integer", "minimum": 1, "maximum": 5}, True, False),
        ({"type": "integer", "minimum": 1, "maximum": 5}, 2.5, False),
        ({"type": "string", "minLength": 1, "maxLength": 3}, "abc", True),
        ({"type": "string", "minLength": 1, "maxLength": 3}, "abcd", False),
        ({"type": "string", "minLength": 1, "maxLength": 3}, "", False),
        ({"type": "string"}, 5, False),
        ({"enum": ["a", "b"]}, "c", False),
        ({"type": "number"}, 1.5, True),
        ({"type": "boolean"}, 1, False),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, 0.5, True),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, 0, False),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, 1, False),
        ({"type": "number", "minimum": 0}, "1", False),
        ({"enum": [1, 2], "default": 1, "title": "t", "description": "d", "writeOnly": True}, 2, True),
        ({"type": "array", "items": {"type": "integer", "maximum": 3}}, [1, 2, 3], True),
        ({"type": "array", "items": {"type": "integer", "maximum": 3}}, [1, 4], False),
        ({"type": "array", "items": {}}, [None, "x", {}], True),
        ({"type": "array", "items": {"type": "string"}}, "abc", False),
        ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, ["a", "a"], False),
        ({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2}, [], False),
        ({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2}, ["a", "b", "c"], False),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1}, True),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": "1"}, False),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, [1], False),
        ({"type": "object", "properties": {"x": {"type": "number"}}}, {"x": 1.5, "other": "any"}, True),
        ({"type": "object", "properties": {"x": {"type": "number"}}}, {"x": "no"}, False),
        ({}, {"any": ["json"]}, True),
    ],
)
def test_check_value(schema: dict, value: object, ok: bool) -> None:
    assert (protocol.check_value(schema, value) is None) is ok


def test_encode_is_compact_and_keeps_unicode() -> None:
    assert protocol.encode({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'
    with pytest.raises(ValueError):
        protocol.encode({"a": float("nan")})


def test_a_full_touch_batch_fits_in_one_message() -> None:
    from services.gateway.link import TOUCH_BATCH

    ids = [f"{n:032x}" for n in range(TOUCH_BATCH)]
    body = protocol.encode({"type": "touch", "ids": ids, "replica": "gateway-with-a-long-name-" + "x" * 100})
    assert isinstance(protocol.decode_control(body), protocol.Touch)


@pytest.mark.parametrize(
    ("schema", "value", "detail"),
    [
        ({"type": "integer", "minimum": 1, "maximum": 5}, 6, "must be at most 5"),
        ({"type": "number", "exclusiveMinimum": 0}, 0, "must be more than 0"),
        ({"type": "array", "items": {"type": "integer"}}, [1, "x"], "item 1 must be an integer"),
        ({"type": "object", "additionalProperties": {"type": "boolean"}}, {"k": 1}, "item 'k' must be true or false"),
    ],
)
def test_check_value_says_why(schema: dict, value: object, detail: str) -> None:
    assert protocol.check_value(schema, value) == detail
