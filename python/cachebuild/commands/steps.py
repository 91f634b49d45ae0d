"""How ``cachebuild build`` and ``demo`` show a build's steps while they run.

On a terminal, below the running step's line, one status line is redrawn in place: the step's
timer and the last line its command printed. In a log (not a terminal) every line is plain text:
the step lines only, and for a step that runs long a line every ``every`` seconds saying so.
"""

from __future__ import annotations

import shutil
import threading
import time
from types import TracebackType
from typing import Any, TextIO

CLEAR = "\r\x1b[2K"


class StepDisplay:
    """The ``progress`` and ``activity`` callbacks of :func:`cachebuild.local.engine.build`; use it with ``with``."""

    def __init__(self, stream: TextIO, *, live: bool | None = None, every: float = 30.0, tick: float = 0.2) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.every = every
        self.tick = tick
        self._lock = threading.Lock()
        self._step: Any = None
        self._started = 0.0
        self._last = ""
        self._shown = False
        self._reported = 0  # plain mode: how many ``every`` periods were told
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cachebuild-steps", daemon=True)

    def __enter__(self) -> StepDisplay:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join()
        with self._lock:
            self._clear()

    # -- the engine's callbacks -------------------------------------------------------------------
    def line(self, text: str) -> None:
        """A line of the report (a step started or finished, a note)."""
        with self._lock:
            self._clear()
            self.stream.write(text + "\n")
            self.stream.flush()

    def activity(self, step: Any, line: str | None) -> None:
        """``step`` started (``line`` is ``None``) or printed ``line``."""
        with self._lock:
            if step is not self._step:
                self._step, self._started, self._last, self._reported = step, time.monotonic(), "", 0
            if line and line.strip():
                self._last = line.strip()

    # -- the ticker -----------------------------------------------------------------------------------
    def _running(self) -> bool:
        return self._step is not None and not self._step.seconds

    def _clear(self) -> None:
        if self._shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self._shown = False

    def _run(self) -> None:
        while not self._done.wait(self.tick):
            with self._lock:
                if not self._running():
                    self._clear()
                    continue
                elapsed = time.monotonic() - self._started
                if self.live:
                    self._draw(elapsed)
                elif int(elapsed // self.every) > self._reported:
                    self._reported = int(elapsed // self.every)
                    said = f": {self._last}" if self._last else ""
                    self.stream.write(f"  {self._step.label} still running, {elapsed:.0f}s{said}\n")
                    self.stream.flush()

    def _draw(self, elapsed: float) -> None:
        width = shutil.get_terminal_size((100, 24)).columns
        text = f"    {elapsed:6.1f}s" + (f"  {self._last}" if self._last else "")
        self.stream.write(CLEAR + text[: max(width - 1, 10)])
        self.stream.flush()
        self._shown = True
