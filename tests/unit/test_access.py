"""The model's rule of who may act for which session (services/model/access.py)."""

from __future__ import annotations

import pytest

from services.model.access import Access
from traitsweb.protocol import ProtocolError

BROWSER, DESK, LEGACY = "b" * 32, "d" * 32, "e" * 32


@pytest.fixture
def access() -> Access:
    return Access(gateways={"gateway"}, desktops={"desktop", "desktop-2"},
                  owners={BROWSER: "gateway", DESK: "desktop"})


@pytest.mark.parametrize("headers", [{}, {"user-id": "model"}, {"user-id": "guest"}, {"user-id": ""}])
def test_frames_not_from_a_client_are_refused(access: Access, headers: dict[str, str]) -> None:
    with pytest.raises(ProtocolError) as info:
        access.sender(headers)
    assert info.value.code == "forbidden"


def test_clients_are_named_by_their_user_id(access: Access) -> None:
    assert access.sender({"user-id": "gateway"}) == "gateway"
    assert access.sender({"user-id": "desktop-2"}) == "desktop-2"


@pytest.mark.parametrize(
    ("user", "session", "allowed"),
    [
        ("gateway", BROWSER, True),
        ("gateway", LEGACY, True),  # logged in before owners were kept, or already gone
        ("gateway", DESK, False),
        ("desktop", DESK, True),
        ("desktop", BROWSER, False),
        ("desktop", LEGACY, False),
        ("desktop-2", DESK, False),  # another desktop's session
    ],
)
def test_who_may_act_for_whom(access: Access, user: str, session: str, allowed: bool) -> None:
    if allowed:
        access.check(user, session)
    else:
        with pytest.raises(ProtocolError):
            access.check(user, session)


def test_anyone_may_create_a_session_but_not_take_one_over(access: Access) -> None:
    access.check_login("desktop", "f" * 32, exists=False)
    access.check_login("desktop", DESK, exists=True)
    with pytest.raises(ProtocolError):
        access.check_login("desktop", BROWSER, exists=True)
