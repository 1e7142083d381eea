"""Who may do what in the page: visitors draw, read, correct, save and learn; curating the
collected drawings (relabel, delete, the review queue, export) and rolling models back belong to
an operator, who unlocks them with the server's operator secret.

The secret comes from the server's environment (``DIGITLIB_OPERATOR_SECRET``, or a file named by
``DIGITLIB_OPERATOR_SECRET_FILE``; see ``digitlib.config.operator_secret``): never from a URL, and
it is never logged or shown. Without one, operator actions are off for everyone. The command
line, run by whoever owns the machine, is not guarded.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable


class OperatorOnly(PermissionError):
    """An operator action was asked for by a visitor who has not unlocked operator mode."""


class OperatorGate:
    """Checks an operator secret, in constant time, with a pause after repeated failures.

    Parameters
    ----------
    secret : str or None
        The server's operator secret; None or "" turns operator actions off.
    max_failures, lockout_seconds
        After ``max_failures`` wrong secrets in a row (from any page of this server), every
        attempt is refused for ``lockout_seconds``: guessing is slow.
    clock : callable
        Seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        secret: str | None,
        *,
        max_failures: int = 5,
        lockout_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = (secret or "").encode()
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._clock = clock
        self._failures = 0
        self._locked_until = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the secret
        return f"OperatorGate(enabled={self.enabled})"

    @property
    def enabled(self) -> bool:
        return bool(self._secret)

    def check(self, given: str) -> str:
        """'' when ``given`` is the secret, else why not (in words for the page)."""
        if not self.enabled:
            return (
                "operator actions are off on this server (it was started without "
                "DIGITLIB_OPERATOR_SECRET)"
            )
        with self._lock:
            now = self._clock()
            if now < self._locked_until:
                wait = int(self._locked_until - now) + 1
                return f"too many wrong secrets: try again in {wait} s"
            if hmac.compare_digest(str(given).encode(), self._secret):
                self._failures = 0
                return ""
            self._failures += 1
            if self._failures >= self.max_failures:
                self._failures = 0
                self._locked_until = now + self.lockout_seconds
            return "that is not the operator secret"
