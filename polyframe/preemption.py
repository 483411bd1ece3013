"""Stopping cleanly when a scheduler or the user asks a training run to stop.

Batch schedulers (Slurm, Kubernetes, preemptible cloud machines) send
SIGTERM and wait a grace period before SIGKILL; a user presses Ctrl-C
(SIGINT). Either way the run should keep what it has learned since the last
checkpoint. `StopRequests` turns those signals into a flag that the trainer
checks after every step; the trainer then saves the latest checkpoint at
the current step and raises `Preempted`, which the binary turns into
`EXIT_CODE` and a line saying how to resume (rerun the same command).
"""

import signal
import threading
from typing import Dict, Optional

# sysexits.h EX_TEMPFAIL: a temporary failure, worth retrying as it was.
EXIT_CODE = 75

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
    """Training stopped on a signal after saving its latest checkpoint.

    Attributes:
        signal_name: "SIGTERM" or "SIGINT".
        step: The step the checkpoint holds.
    """

    def __init__(self, signal_name: str, step: int):
        super().__init__(f"stopped by {signal_name} at step {step}")
        self.signal_name = signal_name
        self.step = step


class StopRequests:
    """A context in which SIGTERM and SIGINT only ask for a stop.

    The first signal sets `requested`; a second one of the same kind gets
    the handler that was there before (so a second Ctrl-C still kills a
    stuck run). Outside the main thread, where Python cannot install signal
    handlers, the context does nothing and `requested` stays None.
    """

    def __init__(self):
        self.requested: Optional[str] = None
        self._previous: Dict[int, object] = {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for number in _SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number, frame) -> None:
        del frame
        if self.requested is None:
            self.requested = signal.Signals(number).name
            return
        previous = self._previous.get(number)
        signal.signal(number, previous if previous is not None
                      else signal.SIG_DFL)
        signal.raise_signal(number)
