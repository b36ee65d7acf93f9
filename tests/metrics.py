"""Reading a gateway replica's Prometheus ``/metrics`` from outside, as a scraper does."""

from __future__ import annotations

import re

import httpx


def gauge(base_url: str, name: str, default: float | None = None) -> float:
    """The value of the unlabelled metric ``name`` at ``base_url/metrics``; ``default`` if the replica does not
    export it (an error when no default is given)."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", httpx.get(f"{base_url}/metrics", timeout=10).text, re.M)
    if found:
        return float(found.group(1))
    if default is None:
        raise LookupError(f"{base_url}/metrics has no {name}")
    return default
