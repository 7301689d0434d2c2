"""A circuit breaker: after repeated failures stop calling the backend for a while."""

from __future__ import annotations

import time


class CircuitBreaker:
    """closed -> (failures_to_open consecutive failures) -> open for cooldown_s -> one trial call
    (half-open) -> closed on success, open again on failure."""

    def __init__(self, failures_to_open: int = 3, cooldown_s: float = 2.0) -> None:
        self.failures_to_open = failures_to_open
        self.cooldown_s = cooldown_s
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self._trial_running = False

    @property
    def is_open(self) -> bool:
        """True from opening until a call succeeds, the half-open trial included."""
        return self.opened_at is not None

    def allow(self) -> bool:
        """Whether to call the backend now: always when closed; when open, once `cooldown_s` seconds have
        passed since it opened, one trial call at a time (that call must record its result)."""
        if self.opened_at is None:
            return True
        if self._trial_running or time.monotonic() - self.opened_at < self.cooldown_s:
            return False
        self._trial_running = True
        return True

    def record_success(self) -> None:
        """A call succeeded: close the breaker and reset the failure count."""
        self.consecutive_failures = 0
        self.opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        """A call failed: open after `failures_to_open` failures in a row; a failed trial call re-opens it
        and restarts the cooldown."""
        self.consecutive_failures += 1
        self._trial_running = False
        if self.opened_at is not None or self.consecutive_failures >= self.failures_to_open:
            self.opened_at = time.monotonic()
