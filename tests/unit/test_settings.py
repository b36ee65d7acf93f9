"""Broker URLs: one address or a cluster's list of nodes; anything else is refused with a clear error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from traitsweb.settings import BrokerSettings, parse_broker_url


def test_one_address_is_one_node() -> None:
    url = parse_broker_url("stomp://gateway:s3cret@rabbitmq:61614/prod")
    assert (url.host, url.port, url.user, url.password, url.vhost) == ("rabbitmq", 61614, "gateway", "s3cret", "prod")
    assert url.nodes == (("rabbitmq", 61614),)


def test_a_list_names_every_node_with_one_login() -> None:
    url = parse_broker_url("stomp://model:p%40ss@h1:61613,h2,[::1]:61615")
    assert url.nodes == (("h1", 61613), ("h2", 61613), ("::1", 61615))
    assert (url.host, url.port) == ("h1", 61613)
    assert (url.user, url.password, url.vhost) == ("model", "p@ss", "/")


def test_no_login_and_the_default_port() -> None:
    url = parse_broker_url("stomp://127.0.0.1")
    assert (url.user, url.password, url.nodes) == (None, None, (("127.0.0.1", 61613),))


def test_the_password_is_never_printed() -> None:
    url = parse_broker_url("stomp://model:hunter2@h1:1,h2:2")
    assert "hunter2" not in repr(url) and "h1:1,h2:2" in repr(url)


def test_memory_urls_stay() -> None:
    url = parse_broker_url("memory://gateway@test-1")
    assert (url.scheme, url.host, url.user, url.nodes) == ("memory", "test-1", "gateway", (("test-1", 0),))


@pytest.mark.parametrize("bad", [
    "redis://localhost",
    "stomp://",
    "stomp://u:p@",
    "stomp://u:p@h1:61613,",
    "stomp://u:p@h1:61613,,h2",
    "stomp://u:p@h1:notaport",
    "stomp://u:p@h1:0",
    "stomp://u:p@h1:70000",
    "stomp://u:p@h 1:61613",
    "stomp://u:p@h1:61613?x=1",
])
def test_bad_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="broker URL must look like"):
        parse_broker_url(bad)


def test_settings_refuse_a_bad_list_at_the_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAITSWEB_BROKER_URL", "stomp://u:p@h1:61613,h2:x")
    with pytest.raises(ValidationError, match="bad address"):
        BrokerSettings()
    monkeypatch.setenv("TRAITSWEB_BROKER_URL", "stomp://u:p@h1:61613,h2:61614")
    assert BrokerSettings().broker.nodes == (("h1", 61613), ("h2", 61614))
