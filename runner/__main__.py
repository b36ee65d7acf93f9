"""``python -m runner``: the ``traitsweb`` command (see :mod:`runner.cli`).

    python -m runner serve examples.instrument:create --gateways 3
    python -m runner --gateways 3          # serve the chat: what `make run GATEWAYS=3` does
"""

from __future__ import annotations

import sys

from runner.cli import main

if __name__ == "__main__":
    sys.exit(main())
