"""A second client in its own process: ``python -m tests.client.writer URL NAME TRANSPORT``.

Prints ``ready`` once connected, waits until another client sets ``level`` to 77, bumps ``log`` with 9 and
waits for it, then prints what it saw as one JSON line.
"""

from __future__ import annotations

import json
import sys

from traitsweb.client import RemoteModel


def main() -> None:
    url, name, transport = sys.argv[1:4]
    with RemoteModel.connect(url, name, transport=transport) as remote:
        print("ready", flush=True)
        remote.wait_for(lambda r: r.level == 77, timeout=60)
        remote.set("bump", 9, wait=True, timeout=60)
        print(json.dumps({"level": remote.level, "log": list(remote.log), "transport": transport}), flush=True)


if __name__ == "__main__":
    main()
