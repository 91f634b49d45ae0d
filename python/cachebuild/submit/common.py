"""What Argo and Tekton submission share: results, errors, retries and waiting with a deadline."""

from __future__ import annotations

import random
import socket
import ssl
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
    """The control plane refused the request or cannot be reached; the message says what to check.

    ``status`` is the HTTP status of the refusal, or ``None`` when there was no answer
    (:class:`Unreachable`, :class:`BuildTimeout`).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(SubmitError):
    """Nothing answers at the address: the connection was refused, the name does not resolve, or TLS
    failed. Not retried when creating (none of these goes away in a second); ``address`` is the URL."""

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address


class BuildTimeout(SubmitError):
    """The deadline passed: before the build finished, or before a create got through.

    ``last`` is the last status seen, or ``None`` when none was (a create that never succeeded).
    """

    def __init__(self, message: str, last: BuildStatus | None = None) -> None:
        super().__init__(message)
        self.last = last


class Transient(Exception):
    """A failure worth another try: a dropped or timed-out connection, 429 or 5xx."""


def _causes(err: BaseException) -> list[BaseException]:
    """``err`` and everything it wraps (``__cause__``, ``__context__``, urllib3's ``reason``, exception args)."""
    seen: list[BaseException] = []
    stack: list[object] = [err]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        stack += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return seen


def connection_failure(what: str, address: str, err: BaseException) -> Unreachable | Transient:
    """A failed connection sorted: :class:`Unreachable` (refused, unknown name, TLS), else :class:`Transient`."""
    causes = _causes(err)
    tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if tls is not None:
        reason = getattr(tls, "reason", None) or str(tls)
        if isinstance(tls, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(tls):
            hint = (
                "the server's certificate is not trusted: --ca-bundle FILE names its CA (--insecure-skip-verify skips the check)"
            )
        elif reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE") or "wrong version number" in str(tls):
            hint = "it does not speak TLS: a plain-HTTP server at an https:// address? (then use http://)"
        else:
            hint = str(tls)
        return Unreachable(f"{what}: TLS with {address} failed ({reason}): {hint}", address=address)
    if any(isinstance(c, socket.gaierror) for c in causes):
        host = address.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        return Unreachable(f"{what}: cannot reach {address}: the name {host!r} does not resolve", address=address)
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return Unreachable(f"{what}: cannot reach {address}: connection refused (nothing listens there)", address=address)
    return Transient(f"{what}: connection to {address} failed ({type(err).__name__}: {_last_words(causes)})")


def _last_words(causes: list[BaseException]) -> str:
    """The innermost cause's message, short."""
    text = str(causes[-1]) or type(causes[-1]).__name__
    return text if len(text) <= 160 else text[:157] + "..."


@dataclass(frozen=True)
class ImageResult:
    """One build of a submission: where it ran, its phase, and its image."""

    step: str
    phase: str
    url: str = ""
    digest: str = ""
    message: str = ""
    cache_hits: str = ""
    """Steps taken from a cache over steps (``5/6``): the template's ``cache-hits`` / ``CACHE_HITS``."""


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


RetryNotice = Callable[[str], None]
"""Told, before each wait between tries, what failed and when the next try comes."""


@dataclass
class Retry:
    """Backoff inside a deadline: 0.5 s doubling to ``cap``, with jitter.

    :class:`Transient` failures are tried again; :class:`Unreachable` ones only with ``unreachable``
    (a wait for a build that runs: the server may be restarting), never for a first create.
    """

    deadline: float
    first: float = 0.5
    cap: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    on_retry: RetryNotice | None = None
    unreachable: bool = False
    attempts: int = field(default=0, init=False)

    @classmethod
    def within(cls, seconds: float, *, on_retry: RetryNotice | None = None) -> Retry:
        """Retries until ``seconds`` from now."""
        return cls(time.monotonic() + seconds, on_retry=on_retry)

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
            except (Transient, Unreachable) as err:
                if isinstance(err, Unreachable) and not self.unreachable:
                    raise
                delay = next(delays)
                if time.monotonic() + delay > self.deadline:
                    raise BuildTimeout(f"{what}: gave up after {self.attempts} tries before the deadline: {err}") from err
                if self.on_retry is not None:
                    self.on_retry(f"{err}; trying again in {delay:.1f}s (try {self.attempts + 1})")
                self.sleep(delay)


Progress = Callable[[BuildStatus, float], None]
"""Called after every poll with the status and the seconds since waiting began."""


def wait_for(
    fetch: Callable[[Retry], BuildStatus],
    *,
    timeout: float,
    poll_interval: float = 2.0,
    on_progress: Progress | None = None,
    on_retry: RetryNotice | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BuildStatus:
    """Poll ``fetch`` until the build is done (Pending and an empty phase are not done) or ``timeout`` passes.

    A poll that fails is tried again inside the deadline, a lost connection included (the build runs on).
    """
    started = time.monotonic()
    deadline = started + timeout
    retry = Retry(deadline, sleep=sleep, on_retry=on_retry, unreachable=True)
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
