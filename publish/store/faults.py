"""Named crash points for fault-injection tests: ``CIVRISK_FAULT_AT=<name>`` kills the process there.

The publish path calls :func:`fault_point` between its steps (scores inserted, alerts recorded, files
written, folder renamed into place, committed); tests/test_faults.py runs a publication in a child process
with the variable set and checks that the store and the folders are consistent after the SIGKILL.
Unset (always, outside those tests), a call costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "CIVRISK_FAULT_AT"


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL (no cleanup of any kind) if ``CIVRISK_FAULT_AT`` is ``name``."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
