"""Factories that cannot serve, one per problem ``traitsweb serve`` must name (tests/test_cli.py)."""

from __future__ import annotations

from traits.api import HasTraits, Int

from traitsweb.bridge import SessionHandler, SharedModel

not_callable = 42


def returns_plain_hastraits() -> HasTraits:
    return HasTraits()


def raises() -> None:
    raise RuntimeError("the instrument is not plugged in")


class NoHandler(SharedModel):
    total = Int(0, exposed=True)


def no_handler() -> NoHandler:
    return NoHandler()


class WrongHandler(SharedModel):
    total = Int(0, exposed=True)


WrongHandler.handler_class = HasTraits  # type: ignore[assignment]


def wrong_handler() -> WrongHandler:
    return WrongHandler()


class StartWithoutScheduler(SharedModel):
    total = Int(0, exposed=True)

    def start(self) -> None:
        pass


StartWithoutScheduler.handler_class = SessionHandler


def start_without_scheduler() -> StartWithoutScheduler:
    return StartWithoutScheduler()
