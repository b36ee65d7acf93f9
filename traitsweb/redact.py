"""Broker passwords never reach a log.

stomp.py logs every frame it sends at DEBUG, CONNECT's ``passcode`` header included: its own mask
(``stomp.utils.PASSCODE_RE``) expects a space after the colon, which a STOMP frame never has, so with
``TRAITSWEB_LOG_LEVEL=DEBUG`` the password was written in clear. :func:`install` puts a filter on
stomp.py's logger that masks the value whatever stomp.py's own mask does; importing
:mod:`traitsweb.broker` installs it, so every service that talks to the broker has it.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactPasscodes", "install"]

#: ``passcode:`` and its value, up to the end of the header line as it appears in a logged frame
#: (a real newline, or the ``\\n`` of a repr'd list of lines, or a quote)
_PASSCODE = re.compile(r"(passcode\s*[:=]\s*)(?!\*{8})[^\s'\"\\,}]+", re.IGNORECASE)


class RedactPasscodes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "passcode" in message.lower():
            record.msg, record.args = _PASSCODE.sub(r"\1********", message), ()
        return True


def install(logger_name: str = "stomp.py") -> None:
    """Idempotent: one filter per logger."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactPasscodes) for f in logger.filters):
        logger.addFilter(RedactPasscodes())
