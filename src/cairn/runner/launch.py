"""Run a command as a tracked child process, behaving as it would without cairn.

The child gets exactly the given environment and working directory; its output goes live to
cairn's stdout and is appended, raw, to the run's log; and how it ended comes back as a
``LaunchResult``, never as an exception, even when it could not start at all.

Terminal. When cairn's stdout is a terminal the child gets a pty of its own (a new session
with the pty as its controlling terminal), so colours, progress bars and Ctrl-C behave as
without cairn: the real terminal goes into raw mode and every keystroke is passed on. The log
then holds what the terminal was sent (``\\r\\n`` line ends, escape sequences). Otherwise the
child writes into pipes and reads cairn's own stdin; its stderr stays on cairn's stderr, so
``> out.csv`` still separates the two, unless both go to the same place anyway (or nowhere,
``echo=False``), where one shared pipe keeps their exact order in the log.

Signals. SIGINT, SIGTERM and SIGHUP sent to cairn go on to the child (to its process group in
pty mode). A Ctrl-C that the terminal sent to cairn's whole process group has already reached
a pipe-mode child in that group, so it is not sent twice. A second SIGINT or SIGTERM within
``ESCALATE_WITHIN_S`` of one forwarded becomes SIGKILL. Keys typed into the pty are the
child's business, as in any terminal; cairn only notes a Ctrl-C to report the run as killed,
and on Ctrl-Z stops the child and itself together so that the shell's ``fg`` resumes both.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from cairn.runner.tee import RawTerminal, Tee, in_foreground

ESCALATE_WITHIN_S = 3.0
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_ESCALATING = (signal.SIGINT, signal.SIGTERM)
_DEFAULT_WINSIZE = struct.pack("HHHH", 24, 80, 0, 0)

_Handler = Callable[[int, FrameType | None], None]


@dataclass(frozen=True)
class LaunchResult:
    """How a child ended, in the terms a run records and a shell would report."""

    exit_code: int  # 128+N when killed by signal N; 127 not found, 126 not executable
    status: str  # "finished" (0), "failed" (non-zero, could not start), "killed" (a signal)
    signal: int | None  # the signal that ended the child, or that we forwarded before it quit
    duration_s: float
    pid: int | None  # None when the command could not be started
    error: str | None  # one readable sentence when it could not start


def launch(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    use_pty: bool | None = None,
    on_start: Callable[[int], None] | None = None,
    echo: bool = True,
) -> LaunchResult:
    """Run ``argv`` (no shell) to its end, teeing its output to stdout and ``log_path``.

    ``use_pty`` None means "if cairn's stdout is a terminal". ``on_start(pid)`` runs as soon as
    the child exists; if it raises, the child is killed and the error propagates.
    """
    if not argv:
        raise ValueError("launch() needs a command to run")
    if use_pty is None:
        use_pty = os.isatty(1)
    _flush_python_streams()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    forwarder = _Forwarder(group=use_pty)
    child: _PtyChild | _PipeChild = _PtyChild(forwarder) if use_pty else _PipeChild(echo)
    started = time.monotonic()
    try:
        if not os.path.isdir(cwd):
            return _not_started(126, f"working directory not found: {cwd}", started)
        with forwarder.installed():
            try:
                proc = child.spawn(argv, cwd, env)
            except OSError as exc:
                return _not_started(*_start_error(argv[0], cwd, env, exc), started)
            exit_fd = _open_pidfd(proc.pid)
            try:
                forwarder.attach(proc.pid)
                if on_start is not None:
                    on_start(proc.pid)
                tee = Tee(log_fd, exit_fd=exit_fd, has_exited=lambda: proc.poll() is not None)
                with child.attached(tee, echo):
                    tee.run()
                returncode = proc.wait()
            except BaseException:
                forwarder.send(signal.SIGKILL)
                proc.wait()
                raise
            finally:
                if exit_fd is not None:
                    os.close(exit_fd)
                child.close()
        return _ended(returncode, forwarder.interrupted_by, started, proc.pid)
    finally:
        os.close(log_fd)


class _PipeChild:
    """A child writing into pipes, in cairn's own process group and reading cairn's stdin."""

    def __init__(self, echo: bool) -> None:
        self._merge = not echo or _same_file(1, 2)
        self._outputs: list[tuple[int, int]] = []

    def spawn(self, argv: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        out_r, out_w = os.pipe()
        err_r, err_w = (-1, -1) if self._merge else os.pipe()
        self._outputs = [(out_r, 1)] + ([] if self._merge else [(err_r, 2)])
        try:
            return subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=out_w,
                stderr=subprocess.STDOUT if self._merge else err_w,
            )
        except BaseException:
            self.close()
            raise
        finally:
            for fd in (out_w, err_w):
                if fd >= 0:
                    os.close(fd)

    @contextlib.contextmanager
    def attached(self, tee: Tee, echo: bool) -> Iterator[None]:
        for fd, dest in self._outputs:
            tee.add_output(fd, dest if echo else None)
        yield

    def close(self) -> None:
        for fd, _dest in self._outputs:
            os.close(fd)
        self._outputs = []


class _PtyChild:
    """A child in its own session whose controlling terminal is a pty that cairn relays."""

    def __init__(self, forwarder: _Forwarder) -> None:
        self._forwarder = forwarder
        self._master = -1
        self._pid = 0
        self._term = next((fd for fd in (0, 1, 2) if os.isatty(fd)), None)
        self._raw: RawTerminal | None = None

    def spawn(self, argv: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        self._master, slave = os.openpty()
        try:
            if self._term is not None:  # start out with the user's terminal settings and size
                with contextlib.suppress(termios.error):
                    termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(self._term))
            self._resize(target=slave)
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                # A piped stdin stays a pipe; a terminal one is replaced by the pty we relay.
                stdin=slave if os.isatty(0) else None,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                preexec_fn=_take_controlling_terminal,
            )
        except BaseException:
            self.close()
            raise
        finally:
            os.close(slave)
        self._pid = proc.pid
        return proc

    @contextlib.contextmanager
    def attached(self, tee: Tee, echo: bool) -> Iterator[None]:
        tee.add_output(self._master, 1 if echo else None)
        if os.isatty(0) and in_foreground(0):
            self._raw = RawTerminal(0)
            tee.forward_keys(0, self._master, self._on_keys)
        with _handlers({signal.SIGWINCH: lambda _s, _f: self._resize(self._master)}):
            self._resize(self._master)  # in case it changed while the child started
            if self._raw is None:
                yield
                return
            self._raw.enter()
            try:
                yield
            finally:
                self._raw.leave()

    def close(self) -> None:
        if self._master >= 0:
            os.close(self._master)
            self._master = -1

    def _resize(self, target: int) -> None:
        size = _DEFAULT_WINSIZE
        if self._term is not None:
            with contextlib.suppress(OSError):
                size = fcntl.ioctl(self._term, termios.TIOCGWINSZ, _DEFAULT_WINSIZE)
        with contextlib.suppress(OSError):
            fcntl.ioctl(target, termios.TIOCSWINSZ, size)

    def _on_keys(self, keys: bytes) -> None:
        """Notice the keys the pty turns into signals: Ctrl-C for the result, Ctrl-Z to stop."""
        try:
            attrs: list[Any] = termios.tcgetattr(self._master)  # Linux: the child's side
        except termios.error:
            return
        if not attrs[3] & termios.ISIG:  # the child reads raw keys; ^C is just a byte to it
            return
        chars = attrs[6]
        if _typed(chars[termios.VINTR], keys):
            self._forwarder.note(signal.SIGINT)
        if _typed(chars[termios.VSUSP], keys):
            self._suspend()

    def _suspend(self) -> None:
        """Stop the child and cairn together, as the shell expects of a job, until ``fg``.

        The kernel drops a terminal's SIGTSTP to the child: its process group is orphaned, its
        parent (cairn) living in another session.
        """
        assert self._raw is not None
        with contextlib.suppress(OSError):
            os.killpg(self._pid, signal.SIGSTOP)
        self._raw.leave()
        os.killpg(os.getpgrp(), signal.SIGSTOP)
        # Running again: the shell has given cairn the terminal back.
        with contextlib.suppress(OSError):
            os.killpg(self._pid, signal.SIGCONT)
        self._raw.enter()
        self._resize(self._master)


class _Forwarder:
    """Passes the signals cairn receives on to the child and remembers the first one."""

    def __init__(self, *, group: bool) -> None:
        self._group = group
        self._pid: int | None = None
        self._pending: list[int] = []
        self._last_forward = -ESCALATE_WITHIN_S
        self.interrupted_by: int | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        with _handlers(dict.fromkeys(FORWARDED_SIGNALS, self._on_signal)):
            yield

    def attach(self, pid: int) -> None:
        """Aim at the child; a signal that came while it was being started goes on now."""
        self._pid = pid
        pending, self._pending = self._pending, []
        for signum in pending:
            self._on_signal(signum, None)

    def note(self, signum: int) -> None:
        if self.interrupted_by is None:
            self.interrupted_by = signum

    def send(self, signum: int) -> None:
        if self._pid is None:
            return
        with contextlib.suppress(OSError):  # already gone, or a pid not ours any more
            if self._group:
                os.killpg(self._pid, signum)
            else:
                os.kill(self._pid, signum)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._pid is None:
            self._pending.append(signum)
            return
        self.note(signum)
        if signum == signal.SIGINT and not self._group and _terminal_sent_it_too(self._pid):
            return
        now = time.monotonic()
        if signum in _ESCALATING:
            if now - self._last_forward < ESCALATE_WITHIN_S:
                signum = signal.SIGKILL
            self._last_forward = now
        self.send(signum)


@contextlib.contextmanager
def _handlers(wanted: Mapping[int, _Handler]) -> Iterator[None]:
    """Install signal handlers for the duration, then put the previous ones back.

    A signal already ignored (``nohup``, a background job's SIGINT) stays ignored, so the
    child inherits the ignore as it would without cairn. Off the main thread Python allows
    no handlers, and nothing is forwarded.
    """
    saved = {}
    if threading.current_thread() is threading.main_thread():
        for signum, handler in wanted.items():
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                continue
            saved[signum] = signal.SIG_DFL if previous is None else previous
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)


def _take_controlling_terminal() -> None:
    """Runs in the child between fork and exec: adopt the pty (its stdout) as its terminal."""
    try:
        fcntl.ioctl(1, termios.TIOCSCTTY, 0)
    except OSError:
        pass  # the child still runs, only without job control inside its pty


def _terminal_sent_it_too(pid: int) -> bool:
    """Whether a SIGINT came from cairn's terminal, which sent it to the child's group too."""
    try:
        if os.getpgid(pid) != os.getpgrp():
            return False
        tty_fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False  # no controlling terminal: someone signalled cairn itself
    try:
        return os.tcgetpgrp(tty_fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(tty_fd)


def _typed(char: object, keys: bytes) -> bool:
    return isinstance(char, bytes) and char not in (b"", b"\0") and char in keys


def _open_pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when the child exits (Linux 5.3+), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _same_file(a: int, b: int) -> bool:
    try:
        sa, sb = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _flush_python_streams() -> None:
    """Text cairn printed before the child starts must reach the terminal before the child's."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()


def _start_error(name: str, cwd: Path, env: Mapping[str, str], exc: OSError) -> tuple[int, str]:
    """The shell's exit code and one sentence for a command that could not be started."""
    if isinstance(exc, FileNotFoundError):
        if os.sep in name:
            found = os.path.exists(os.path.join(cwd, name))
        else:
            found = shutil.which(name, path=env.get("PATH", os.defpath)) is not None
        if not found:
            return 127, f"command not found: {name}"
        return 126, f"cannot run {name}: the interpreter on its #! line was not found"
    if isinstance(exc, PermissionError):
        return 126, f"not executable: {name}"
    return 126, f"cannot run {name}: {exc.strerror or exc}"


def _not_started(exit_code: int, error: str, started: float) -> LaunchResult:
    return LaunchResult(exit_code, "failed", None, time.monotonic() - started, None, error)


def _ended(returncode: int, forwarded: int | None, started: float, pid: int) -> LaunchResult:
    duration = time.monotonic() - started
    if returncode < 0:
        return LaunchResult(128 - returncode, "killed", -returncode, duration, pid, None)
    if returncode == 0:
        return LaunchResult(0, "finished", None, duration, pid, None)
    if forwarded is not None:  # e.g. Python's KeyboardInterrupt caught, then exit(1)
        return LaunchResult(returncode, "killed", forwarded, duration, pid, None)
    return LaunchResult(returncode, "failed", None, duration, pid, None)
