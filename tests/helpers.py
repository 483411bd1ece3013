"""Running the real command line from tests."""

import os
import subprocess
import sys
from typing import Dict, Optional, Sequence

from conftest import REPO

DURATION_RNN = str(REPO / "gin_configs" / "duration_rnn.gin")
SMOKE = str(REPO / "gin_configs" / "smoke.gin")


def run_main(args: Sequence[str], env: Optional[Dict[str, str]] = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `python -m polyframe.main ARGS` and returns the finished process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "polyframe.main", *args], cwd=REPO,
        env=full_env, capture_output=True, text=True, timeout=timeout)


def error_line(process: subprocess.CompletedProcess) -> str:
    """The one line polyframe prints for a user error (TF's import noise,
    which polyframe does not control, is ignored)."""
    ours = [line for line in process.stderr.splitlines()
            if line.startswith("polyframe: error:")]
    assert len(ours) == 1, process.stderr[-3000:]
    assert "Traceback" not in process.stderr, process.stderr[-3000:]
    return ours[0]
