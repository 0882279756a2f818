"""Copy a child's output to cairn's own terminal and to the run's log, and keystrokes back.

Everything runs on the calling thread around one selector: an idle child costs nothing, and
Python signal handlers still run promptly because an interrupted ``select`` is retried after
them. The copy ends when the child exits, not when its outputs close, because a grandchild
that inherited them (a TensorBoard server started by the script) may hold them open for ever;
after the exit the outputs are drained until they close or stay quiet for a moment.
``RawTerminal`` switches the user's terminal so that keystrokes pass through untouched.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import selectors
import termios
import time
import tty
from collections.abc import Callable

CHUNK = 1 << 16
QUIET_AFTER_EXIT_S = 0.1  # an output still open after the exit may stay silent this long
DRAIN_LIMIT_S = 2.0  # and we keep copying at most this long after the exit
POLL_S = 0.05  # how often to ask whether the child exited, where no pidfd tells us

logger = logging.getLogger(__name__)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte, waiting out a full pipe even if ``fd`` was left non-blocking."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[written:]


class Tee:
    """One copy loop: outputs to their echo destination and the log, keys to the child."""

    def __init__(self, log_fd: int, *, exit_fd: int | None, has_exited: Callable[[], bool]):
        self._log_fd: int | None = log_fd
        self._exit_fd = exit_fd
        self._has_exited = has_exited
        self._echo_to: dict[int, int | None] = {}
        self._broken: set[int] = set()
        self._keys_src: int | None = None
        self._keys_dst: int | None = None
        self._on_keys: Callable[[bytes], None] | None = None
        self._pending = bytearray()
        self._sel = selectors.DefaultSelector()
        self._events: dict[int, int] = {}

    def add_output(self, fd: int, echo_to: int | None) -> None:
        """Copy ``fd`` (made non-blocking) to the log and, unless None, to ``echo_to``."""
        os.set_blocking(fd, False)
        self._echo_to[fd] = echo_to

    def forward_keys(self, src: int, dst: int, on_keys: Callable[[bytes], None]) -> None:
        """Copy what the user types on ``src`` to ``dst``; ``on_keys`` sees it once sent."""
        os.set_blocking(dst, False)
        self._keys_src, self._keys_dst, self._on_keys = src, dst, on_keys

    def run(self) -> None:
        """Copy until the child exits (then drain) or until every output has closed."""
        if self._exit_fd is not None:
            self._sel.register(self._exit_fd, selectors.EVENT_READ)
        for fd in self._echo_to:
            self._update(fd)
        if self._keys_src is not None:
            self._update(self._keys_src)
        timeout = None if self._exit_fd is not None else POLL_S
        try:
            while self._echo_to:
                exited = False
                for key, mask in self._sel.select(timeout):
                    if key.fd == self._exit_fd:
                        exited = True
                        continue
                    if mask & selectors.EVENT_READ:
                        if key.fd in self._echo_to:
                            self._copy(key.fd)
                        elif key.fd == self._keys_src:
                            self._read_keys()
                    if mask & selectors.EVENT_WRITE:
                        self._send_keys()
                if exited or (self._exit_fd is None and self._has_exited()):
                    self._drain()
                    return
        finally:
            self._sel.close()

    def _drain(self) -> None:
        """Copy what the child left behind, without waiting on grandchildren for long."""
        for fd in (self._keys_src, self._keys_dst):
            if fd is not None and fd not in self._echo_to and fd in self._events:
                self._sel.unregister(fd)
                del self._events[fd]
        self._keys_src = self._keys_dst = None
        self._pending.clear()
        for fd in list(self._echo_to):
            self._update(fd)
        if self._exit_fd is not None:
            self._sel.unregister(self._exit_fd)
        deadline = time.monotonic() + DRAIN_LIMIT_S
        while self._echo_to:
            left = deadline - time.monotonic()
            ready = self._sel.select(min(QUIET_AFTER_EXIT_S, left)) if left > 0 else []
            if not ready:
                return
            for key, _mask in ready:
                self._copy(key.fd)

    def _copy(self, fd: int) -> None:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            # A pty master reads EIO once every holder of the other side has closed it.
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        dest = self._echo_to[fd]
        if dest is not None and dest not in self._broken:
            try:
                write_all(dest, data)
            except OSError as exc:
                # Whoever read our output went away (`| head`); the run and its log go on.
                logger.debug("stopped echoing to fd %d: %s", dest, exc)
                self._broken.add(dest)
        if self._log_fd is not None:
            try:
                write_all(self._log_fd, data)
            except OSError as exc:
                logger.warning("cairn stopped writing the run's log: %s", exc)
                self._log_fd = None

    def _close_output(self, fd: int) -> None:
        del self._echo_to[fd]
        if fd == self._keys_dst:
            self._keys_dst = None
            self._pending.clear()
            if self._keys_src is not None:
                self._update(self._keys_src)
        self._update(fd)

    def _read_keys(self) -> None:
        assert self._keys_src is not None
        try:
            data = os.read(self._keys_src, CHUNK)
        except OSError:
            data = b""
        if not data or self._keys_dst is None:
            # The terminal went away: stop listening to it, the child goes on.
            src, self._keys_src = self._keys_src, None
            self._update(src)
            return
        self._pending += data
        self._send_keys()
        if self._on_keys is not None:
            self._on_keys(data)

    def _send_keys(self) -> None:
        """Send queued keys; while the child does not read them, stop reading more."""
        if self._keys_dst is None:
            return
        try:
            written = os.write(self._keys_dst, self._pending)
        except BlockingIOError:
            written = 0
        except OSError:
            written = len(self._pending)  # the child's side is gone; its keys go with it
        del self._pending[:written]
        self._update(self._keys_dst)
        if self._keys_src is not None:
            self._update(self._keys_src)

    def _update(self, fd: int) -> None:
        """Register exactly the interest ``fd`` has now, in the one place that knows it."""
        events = 0
        if fd in self._echo_to:
            events |= selectors.EVENT_READ
        if fd == self._keys_src and not self._pending:
            events |= selectors.EVENT_READ
        if fd == self._keys_dst and self._pending:
            events |= selectors.EVENT_WRITE
        current = self._events.get(fd, 0)
        if events == current:
            return
        if not events:
            self._sel.unregister(fd)
            del self._events[fd]
        elif current:
            self._sel.modify(fd, events)
            self._events[fd] = events
        else:
            self._sel.register(fd, events)
            self._events[fd] = events


class RawTerminal:
    """The user's terminal, switched between raw (keys go to the child) and as it was."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._saved = termios.tcgetattr(fd)

    def enter(self) -> None:
        tty.setraw(self._fd, termios.TCSANOW)  # TCSANOW keeps keys typed ahead for the child

    def leave(self) -> None:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)


def in_foreground(fd: int) -> bool:
    """Whether cairn may use the terminal on ``fd`` now (not a background job)."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
