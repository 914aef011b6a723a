"""One turn per WeChat message in this process: a resend that arrives while the turn runs waits on it instead.

A delivery joins the flight of its message key and waits up to its budget. Whoever finds the turn finished
owns the answer; when every delivery has given up first, the turn's replies are handed to ``orphaned``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from channels.service import Result

log = logging.getLogger(__name__)


class Flight:
    """One message's turn in this process, and the deliveries waiting for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.waiting = 0
        self.result: Result | None = None
        self.error: BaseException | None = None


class Flights:
    """Turns in progress by message key: a resend joins the running turn instead of starting another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str], Flight] = {}
        self._threads: set[threading.Thread] = set()

    def join(self, key: tuple[str, str], work: Callable[[], Result], orphaned: Callable[[Result], object]) -> Flight:
        """Wait on the turn of this key, starting it if none runs; call ``wait`` next."""
        with self._lock:
            flight = self._active.get(key)
            if flight is None:
                flight = self._active[key] = Flight()
                thread = threading.Thread(target=self._run, args=(key, flight, work, orphaned),
                                          name=f"wechat-turn-{key[1][:24]}")
                self._threads.add(thread)
                thread.start()
            with flight.lock:
                flight.waiting += 1
        return flight

    def _run(self, key, flight: Flight, work: Callable[[], Result], orphaned: Callable[[Result], object]) -> None:
        try:
            result, error = work(), None
        except Exception as exc:  # receive() has logged it and kept the message as failed (if it got that far)
            result, error = None, exc
        with self._lock:
            self._active.pop(key, None)
        with flight.lock:
            flight.result, flight.error = result, error
            flight.done.set()
            nobody_waits = flight.waiting == 0
        if nobody_waits and error is not None:
            log.error("WeChat message %s failed after every delivery had answered: %r", key[1], error)
        try:
            if nobody_waits and result is not None:
                # Every delivery has answered "success": the replies must leave through the API.
                orphaned(result)
        except Exception:
            log.exception("handing WeChat message %s to the customer-service API failed", key[1])
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def wait(self, flight: Flight, timeout: float) -> bool:
        """Wait for the turn up to ``timeout`` seconds; True if it finished (then this delivery owns the answer)."""
        flight.done.wait(timeout)
        with flight.lock:
            # Under the lock: either the turn saw this delivery waiting, or this delivery sees it unfinished.
            flight.waiting -= 1
            return flight.done.is_set()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no turn runs (tests, shutdown); return False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                with self._lock:
                    return not self._threads
