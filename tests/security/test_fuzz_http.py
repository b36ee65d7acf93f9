"""Thousands of malformed requests at every endpoint of a running gateway: only clear 4xx answers, no 5xx.

The stack here has its rate limits raised out of reach, so every request reaches the parser and the
handler: a ``429`` fails the test (it would mean a body was never looked at). schemathesis also holds
every answer to the OpenAPI description: documented status codes, content types and response schemas.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (  # type: ignore[attr-defined]  # registered checks, looked up by name
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from runner.stack import Stack
from tests.webclient import WebClient

pytestmark = pytest.mark.stack

ENDPOINTS = ["/api/login", "/api/send", "/api/logout"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
bodies = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"trait": st.one_of(st.sampled_from(["entry_field", "rating_selector"]), st.text(max_size=70)),
                           "value": json_values},
                          optional={"msg_id": json_values, "id": json_values}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"name": json_values}).map(lambda v: json.dumps(v).encode()),
    st.integers(0, 20_000).map(lambda n: b"[" * n + b"]" * n),
)
queries = st.dictionaries(
    st.sampled_from(["since", "epoch", "timeout", "x", "since[]", ""]),
    st.one_of(st.text(max_size=30), st.integers().map(str), st.floats().map(str)),
    max_size=4,
)


UNLIMITED = "1000000"


@pytest.fixture(scope="module")
def fuzz_stack(make_stack: Any) -> Iterator[Stack]:
    if os.environ.get("TRAITSWEB_BASE_URL"):
        pytest.skip("needs a stack of its own with the rate limits raised (TRAITSWEB_BASE_URL is set)")
    limits = {f"TRAITSWEB_{name}": UNLIMITED for name in (
        "SEND_RATE", "SEND_BURST", "LOGIN_RATE", "LOGIN_BURST", "POLL_RATE", "POLL_BURST", "STATE_RATE", "STATE_BURST",
        "SESSIONS_PER_ADDRESS")}
    proxy = {"PROXY_REQ_RATE": UNLIMITED, "PROXY_REQ_BURST": UNLIMITED, "PROXY_REQ_DELAY": UNLIMITED}
    with make_stack(gateways=2, proxy=True, env={"gateway": limits, "proxy": proxy}) as stack:
        yield stack


@pytest.fixture(scope="module")
def base_url(fuzz_stack: Stack) -> str:
    return fuzz_stack.proxy_url


@pytest.fixture(scope="module")
def session(base_url: str) -> Iterator[WebClient]:
    with WebClient(base_url) as client:
        client.login("fuzzer")
        yield client


@pytest.fixture(scope="module")
def anonymous() -> Iterator[httpx.Client]:
    """A client that never holds a session cookie: the only credential it sends is the fuzzed one."""
    with httpx.Client(timeout=10, cookies=None) as client:
        yield client


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert response.status_code != 429, f"rate-limited: the request never reached the parser ({response.text[:200]})"
    if response.status_code == 400 and response.text == "Invalid HTTP request received.":
        return  # not valid HTTP (e.g. a DEL byte in a header): uvicorn's parser refuses it before our code
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"} and body["error"] and body["detail"]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(ENDPOINTS), body=bodies, content_type=st.sampled_from(["application/json", "text/plain", ""]))
def test_fuzzed_bodies(base_url: str, session: WebClient, path: str, body: bytes, content_type: str) -> None:
    with contextlib.ExitStack() as stack:
        client = session
        if path == "/api/logout":  # a session of its own to end (its cookie too), so the fuzzing one stays alive
            client = stack.enter_context(WebClient(base_url))
            client.login("logout-fuzz")
        headers = {**client.auth, "Content-Type": content_type} if content_type else dict(client.auth)
        response = client.http.post(base_url + path, content=body, headers=headers)
    check(response)
    assert response.status_code != 401, f"a valid session refused: the body never reached the parser ({response.text[:200]})"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(params=queries, path=st.sampled_from(["/api/poll", "/api/state", "/api/session"]))
def test_fuzzed_queries(base_url: str, session: WebClient, params: dict[str, str], path: str) -> None:
    if path == "/api/poll":
        params = {**params, "timeout": "0"} if "timeout" not in params else params
        try:
            if float(params["timeout"]) > 1:
                params["timeout"] = "0"
        except ValueError:
            pass
    response = session.http.get(base_url + path, params=params, headers=session.auth)
    check(response)
    assert response.status_code != 401, f"a valid session refused: the query never reached the parser ({response.text[:200]})"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(token=st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.hex())),
       scheme=st.sampled_from(["Bearer ", "bearer ", "Basic ", ""]))
def test_fuzzed_tokens(base_url: str, anonymous: httpx.Client, token: str, scheme: str) -> None:
    try:
        headers = {"Authorization": scheme + token, "Origin": base_url}
        response = anonymous.post(base_url + "/api/send", json={"trait": "entry_field", "value": "x"}, headers=headers)
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return  # not even a valid HTTP header: nothing to send
    check(response)
    assert response.status_code in (400, 401, 403)


schema = schemathesis.pytest.from_fixture("openapi_schema")
#: what every answer is held to (not ``negative_data_rejection`` and kin: those judge which inputs the
#: server accepts, and the gateway is deliberately more lenient than JSON Schema, e.g. on query numbers)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def openapi_schema(base_url: str) -> Any:
    return schemathesis.openapi.from_url(base_url + "/openapi.json")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_schema_fuzzing(case: Any, session: WebClient, base_url: str) -> None:
    if case.path == "/api/events":
        return  # an endless stream by design; its parameters are fuzzed through /api/poll's
    if case.path == "/api/logout":  # a session of its own to end, so the fuzzing session stays alive
        with WebClient(base_url) as throwaway:
            throwaway.login("logout-fuzz")
            headers = dict(throwaway.auth)
    else:
        headers = dict(session.auth)
    if case.path not in ("/api/logout", "/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert session.http.get(base_url + "/api/session", headers=session.auth).status_code == 200, "fuzzing session gone"
    if case.path == "/api/poll":
        case.query = {**(case.query or {}), "timeout": 0}
    response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)
    assert response.status_code != 429, f"{case.method} {case.path}: rate-limited"
