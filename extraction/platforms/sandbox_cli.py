"""Shared tail of the ``*_sandbox`` commands: serve until Ctrl-C or SIGTERM, then stop cleanly."""

from __future__ import annotations

import signal
import threading
from typing import Any


def serve_until_stopped(handle: Any, stdout: Any, *, banner: str, stopped: str = "sandbox stopped") -> None:
    """Print ``banner``, block until SIGINT/SIGTERM, then stop the sandbox ``handle``."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stdout.write(banner)
    stdout.flush()
    stop.wait()
    handle.stop()
    stdout.write(stopped)
