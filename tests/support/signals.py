"""Signals for the processes a test interrupts."""

import signal


def default_sigint() -> None:
    """A ``preexec_fn`` that gives the child Ctrl-C's default action, as in a terminal.

    A command started in the background by a non-interactive shell (``.ci/run &``, nohup) inherits
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler, so a test that presses
    Ctrl-C would see it ignored, rightly.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
