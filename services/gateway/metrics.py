"""Prometheus metrics of one replica, in their own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions = Gauge("traitsweb_gateway_sessions", "Logged-in sessions (participants)", registry=self.registry)
        self.polls_held = Gauge("traitsweb_gateway_polls_held", "Long-polls, SSE streams and WebSockets waiting", registry=self.registry)
        self.messages_in = Counter("traitsweb_gateway_messages_in", "Client writes accepted by the broker", registry=self.registry)
        self.messages_out = Counter("traitsweb_gateway_messages_out", "Out messages delivered to clients", registry=self.registry)
        self.reconnects = Gauge("traitsweb_gateway_broker_reconnects", "Reconnections to the broker", registry=self.registry)
        self.from_journal = Gauge("traitsweb_gateway_from_journal",
                                  "Out messages applied from the journal stream before the out topic brought them",
                                  registry=self.registry)
        self.send_latency = Histogram(
            "traitsweb_gateway_send_seconds",
            "From a send's arrival to the broker's receipt",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.poll_latency = Histogram(
            "traitsweb_gateway_poll_seconds",
            "How long polls were held",
            buckets=(0.001, 0.01, 0.1, 1, 5, 10, 25, 60),
            registry=self.registry,
        )

    def observe_wait(self, seconds: float, delivered: int) -> None:
        """One poll, or one wait of a stream, ended after ``seconds`` with ``delivered`` messages."""
        self.poll_latency.observe(seconds)
        if delivered:
            self.messages_out.inc(delivered)
