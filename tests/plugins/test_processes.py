"""The one check of whether a pid left in a temp file or scratch database name still runs."""

import os
import subprocess
import sys

from territoire import processes


def test_alive_knows_this_process_and_a_finished_one():
    assert processes.alive(os.getpid())
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True, check=True)
    assert not processes.alive(int(child.stdout))  # ended and reaped: its pid is free


def test_alive_while_a_process_runs():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert processes.alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not processes.alive(child.pid)
