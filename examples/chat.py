"""The chat of the original demo: ``traitsweb serve examples.chat:create`` (what ``traitsweb serve`` serves)."""

from __future__ import annotations

from services.model.chat import Chat, ChatMessage, ChatWebHandler, create

__all__ = ["Chat", "ChatMessage", "ChatWebHandler", "create"]
