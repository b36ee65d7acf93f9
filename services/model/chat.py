"""The chat of the original demo, as a pure Traits model (no I/O here).

Clients post messages through ``entry_field`` and rate their connection
through ``rating_selector``; both are traits of :class:`ChatWebHandler`, one
per logged-in client, whose observers call the model as the demo's
``setattr`` did.
"""

from __future__ import annotations

import time

from traits.api import Callable, ComparisonMode, Dict, Float, HasStrictTraits, Instance, Int, List, Range, Str, observe

from traitsweb.bridge import BoundedStr, SessionHandler, SharedModel

__all__ = ["Chat", "ChatMessage", "ChatWebHandler", "create"]

MAX_TEXT = 2000


class ChatMessage(HasStrictTraits):
    """One line of the chat."""

    user = Str()
    text = Str()
    time = Float()


class Chat(SharedModel):
    """The shared chat: messages, each participant's connection rating, their average."""

    messages = List(Instance(ChatMessage), exposed=True)
    #: session id -> rating 1..5
    connection_ratings = Dict(Str, Int, exposed=True)
    average_rating = Float(0.0, exposed=True)
    #: the oldest messages are dropped beyond this many
    max_messages = Int(10_000)
    clock = Callable(time.time)

    @observe("connection_ratings.items")
    def _update_average_rating(self, event: object) -> None:
        ratings = self.connection_ratings.values()
        self.average_rating = round(sum(ratings) / len(ratings), 6) if ratings else 0.0

    def add_message(self, session: str, text: str) -> None:
        name = self.participants.get(session, "?")
        self.messages.append(ChatMessage(user=name, text=text, time=self.clock()))
        excess = len(self.messages) - self.max_messages
        if excess > 0:
            del self.messages[:excess]

    def logout(self, session: str) -> None:
        self.connection_ratings.pop(session, None)
        super().logout(session)


class ChatWebHandler(SessionHandler):
    """What one web client may do: post a message, rate its connection."""

    model = Instance(Chat)
    #: every write posts, even the same text twice in a row
    entry_field = BoundedStr(minlen=1, maxlen=MAX_TEXT, client=True, comparison_mode=ComparisonMode.none)
    rating_selector = Range(1, 5, 3, client=True, comparison_mode=ComparisonMode.none)

    @observe("entry_field")
    def _post_message(self, event: object) -> None:
        self.model.add_message(self.session, self.entry_field)

    @observe("rating_selector")
    def _rate_connection(self, event: object) -> None:
        self.model.connection_ratings[self.session] = self.rating_selector


Chat.handler_class = ChatWebHandler
Chat.page = "chat"


def create() -> Chat:
    """The factory the model service uses by default (``TRAITSWEB_MODEL``)."""
    return Chat()
