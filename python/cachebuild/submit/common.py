"""What Argo and Tekton submission share: results, errors, retries and waiting with a deadline."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")

SUBMISSION_LABEL = "cachebuild.dev/submission"
"""Label on every object cachebuild creates: the submission's idempotency key."""


class SubmitError(Exception):
    """The control plane refused or could not be reached; the message says what to check."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BuildTimeout(SubmitError):
    """The deadline passed before the build finished; ``last`` is the last status seen."""

    def __init__(self, message: str, last: BuildStatus | None) -> None:
        super().__init__(message)
        self.last = last


class Transient(Exception):
    """A failure worth another try: a dropped connection, 429 or 5xx."""


@dataclass(frozen=True)
class ImageResult:
    """One build of a submission: where it ran, its phase, and its image."""

    step: str
    phase: str
    url: str = ""
    digest: str = ""
    message: str = ""


@dataclass(frozen=True)
class BuildStatus:
    """A snapshot of a submission. ``phase`` is Pending, Running, Succeeded, Failed or Error ('' before any)."""

    name: str
    phase: str
    images: tuple[ImageResult, ...] = ()
    message: str = ""
    started: float | None = None
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.phase in ("Succeeded", "Failed", "Error")

    @property
    def succeeded(self) -> bool:
        return self.phase == "Succeeded"

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def failed_step(self) -> ImageResult | None:
        return next((i for i in self.images if i.phase in ("Failed", "Error")), None)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (``--output json``)."""
        failed = self.failed_step
        return {
            "name": self.name,
            "phase": self.phase,
            "succeeded": self.succeeded,
            "duration": self.duration,
            "message": self.message,
            "failedStep": failed.step if failed else None,
            "images": [asdict(i) for i in self.images],
        }


def epoch(stamp: str | None) -> float | None:
    """Seconds since 1970 of a Kubernetes timestamp (RFC 3339), or None."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else None


def new_submission_id() -> str:
    """A fresh idempotency key: the same create retried carries the same key and name."""
    return uuid.uuid4().hex[:12]


@dataclass
class Retry:
    """Backoff inside a deadline: 0.5 s doubling to ``cap``, with jitter."""

    deadline: float
    first: float = 0.5
    cap: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    attempts: int = field(default=0, init=False)

    @classmethod
    def within(cls, seconds: float) -> Retry:
        """Retries until ``seconds`` from now."""
        return cls(time.monotonic() + seconds)

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield min(delay, self.cap) * random.uniform(0.75, 1.0)  # noqa: S311 - jitter, not crypto
            delay *= 2

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, tried again on :class:`Transient` until the deadline."""
        delays = self.delays()
        while True:
            self.attempts += 1
            try:
                return fn()
            except Transient as err:
                delay = next(delays)
                if time.monotonic() + delay > self.deadline:
                    raise BuildTimeout(f"{what}: gave up after {self.attempts} tries before the deadline: {err}", None) from err
                self.sleep(delay)


Progress = Callable[[BuildStatus, float], None]
"""Called after every poll with the status and the seconds since waiting began."""


def wait_for(
    fetch: Callable[[Retry], BuildStatus],
    *,
    timeout: float,
    poll_interval: float = 2.0,
    on_progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BuildStatus:
    """Poll ``fetch`` until the build is done (Pending and an empty phase are not done) or ``timeout`` passes."""
    started = time.monotonic()
    deadline = started + timeout
    retry = Retry(deadline, sleep=sleep)
    last: BuildStatus | None = None
    while True:
        try:
            status = fetch(retry)
        except BuildTimeout as err:
            raise BuildTimeout(f"timed out after {timeout:g}s: {err}", last) from err
        if on_progress is not None:
            on_progress(status, time.monotonic() - started)
        last = status
        if status.done:
            return status
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            phase = status.phase or "not started"
            raise BuildTimeout(f"timed out after {timeout:g}s waiting for {status.name} (still {phase})", status)
        sleep(min(poll_interval, remaining))
