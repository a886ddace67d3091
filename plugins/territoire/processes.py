"""Whether the process that left something behind (a temp file, a scratch database) still runs."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while `pid` may still run: this process, or one that exists (even another user's, which
    may not be signalled). Only a pid the system does not know is dead, so nothing still in use is
    ever cleaned up."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
