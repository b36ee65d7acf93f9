"""One shape for everything that runs between ``start`` and ``close``: use it in a ``with``."""

from __future__ import annotations

from typing import Self

__all__ = ["Lifetime"]


class Lifetime:
    """``with thing:`` starts it and closes it however the block ends; subclasses define both."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
