"""A model module that fails while it is imported (tests/test_cli.py)."""

from __future__ import annotations

raise ImportError("numpy is required for this model")  # as a module with a missing optional dependency would
