"""launch(): real children, real pipes and ptys, real signals.

Signal tests run launch() inside a small driver process, so that the signal goes to a cairn
that is not pytest. The driver writes its LaunchResult as JSON to a file. A driver started in a
new session has no terminal, like cairn under CI or systemd; one started on a pty of the test's
own is cairn in a terminal, and the test types into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from cairn.runner.launch import LaunchResult, launch

PY = sys.executable

DRIVER = """\
import json, os, sys, termios
from pathlib import Path
from dataclasses import asdict
from cairn.runner.launch import launch

cfg = json.loads(sys.argv[1])
before = termios.tcgetattr(0) if os.isatty(0) else None
result = launch(cfg["argv"], cwd=Path(cfg["cwd"]), env=dict(os.environ),
                log_path=Path(cfg["log"]), use_pty=cfg["use_pty"])
out = asdict(result)
out["tty_restored"] = before is None or termios.tcgetattr(0) == before
Path(cfg["result"]).write_text(json.dumps(out))
"""


def run(argv: list[str], tmp_path: Path, **kw: Any) -> LaunchResult:
    kw.setdefault("env", dict(os.environ))
    return launch(argv, cwd=tmp_path, log_path=tmp_path / "run.log", **kw)


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def log_of(tmp_path: Path) -> bytes:
    return (tmp_path / "run.log").read_bytes()


# -- exit codes and starting ------------------------------------------------------------------


@pytest.mark.parametrize("use_pty", [False, True])
@pytest.mark.parametrize(("code", "status"), [(0, "finished"), (3, "failed")])
def test_exit_code_passes_through(tmp_path: Path, use_pty: bool, code: int, status: str) -> None:
    result = run(py(f"raise SystemExit({code})"), tmp_path, use_pty=use_pty)
    assert (result.exit_code, result.status, result.signal, result.error) == (
        code,
        status,
        None,
        None,
    )
    assert result.pid is not None and result.duration_s > 0


def test_death_by_signal_is_128_plus_n(tmp_path: Path) -> None:
    result = run(py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"), tmp_path)
    assert (result.exit_code, result.status, result.signal) == (137, "killed", 9)


def test_command_not_found_is_127_without_traceback(tmp_path: Path) -> None:
    result = run(["no-such-command-cairn"], tmp_path)
    assert result == LaunchResult(
        127, "failed", None, result.duration_s, None, "command not found: no-such-command-cairn"
    )


def test_not_executable_is_126(tmp_path: Path) -> None:
    script = tmp_path / "train.sh"
    script.write_text("echo hi\n")
    result = run(["./train.sh"], tmp_path)
    assert (result.exit_code, result.pid, result.error) == (126, None, "not executable: ./train.sh")


def test_missing_interpreter_is_not_called_a_missing_command(tmp_path: Path) -> None:
    script = tmp_path / "train.sh"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(0o755)
    result = run(["./train.sh"], tmp_path)
    assert result.exit_code == 126
    assert result.error is not None and "interpreter" in result.error


def test_missing_working_directory(tmp_path: Path) -> None:
    result = launch(
        ["true"], cwd=tmp_path / "gone", env=dict(os.environ), log_path=tmp_path / "run.log"
    )
    assert (result.exit_code, result.status, result.pid) == (126, "failed", None)
    assert result.error == f"working directory not found: {tmp_path / 'gone'}"


def test_runs_in_cwd_with_exactly_env(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "ONLY_THIS": "1"}
    assert run(["env"], tmp_path, env=env, echo=False).exit_code == 0
    assert sorted(log_of(tmp_path).decode().splitlines()) == [
        "ONLY_THIS=1",
        f"PATH={env['PATH']}",
    ]
    run(["pwd"], tmp_path, echo=False)
    assert log_of(tmp_path).decode().splitlines()[-1] == str(tmp_path)


def test_on_start_gets_the_pid(tmp_path: Path) -> None:
    seen: list[int] = []
    result = run(py("pass"), tmp_path, on_start=seen.append)
    assert seen == [result.pid]


def test_a_failing_on_start_kills_the_child(tmp_path: Path) -> None:
    pids: list[int] = []

    def boom(pid: int) -> None:
        pids.append(pid)
        raise RuntimeError("store unavailable")

    with pytest.raises(RuntimeError, match="store unavailable"):
        run(py("import time; time.sleep(60)"), tmp_path, on_start=boom)
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)


def test_signal_handlers_are_put_back(tmp_path: Path) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGWINCH)}
    run(py("pass"), tmp_path, use_pty=True)
    run(py("pass"), tmp_path, use_pty=False)
    assert {s: signal.getsignal(s) for s in before} == before


# -- output ------------------------------------------------------------------------------------

INTERLEAVED = (
    "import sys\n"
    "for i in range(5):\n"
    "    print(f'out{i}', flush=True)\n"
    "    print(f'err{i}', file=sys.stderr, flush=True)\n"
)


def test_output_goes_to_stdout_stderr_and_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run(py(INTERLEAVED), tmp_path, use_pty=False)
    out, err = capfd.readouterr()
    assert result.exit_code == 0
    assert out == "".join(f"out{i}\n" for i in range(5))
    assert err == "".join(f"err{i}\n" for i in range(5))
    lines = log_of(tmp_path).decode().splitlines()
    assert sorted(lines) == sorted([f"out{i}" for i in range(5)] + [f"err{i}" for i in range(5)])
    # Two pipes: each stream keeps its order; their relative order is the order they arrived.
    assert [x for x in lines if x.startswith("out")] == [f"out{i}" for i in range(5)]
    assert [x for x in lines if x.startswith("err")] == [f"err{i}" for i in range(5)]


def test_one_shared_destination_keeps_the_exact_order(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run(py(INTERLEAVED), tmp_path, use_pty=False, echo=False)
    assert capfd.readouterr() == ("", "")
    expected = "".join(f"out{i}\nerr{i}\n" for i in range(5))
    assert log_of(tmp_path).decode() == expected
    # stdout and stderr of cairn on one pipe (`2>&1 | tee`): the same, echoed as well.
    cfg = driver_config(tmp_path, py(INTERLEAVED), use_pty=False)
    shown = subprocess.run(
        [PY, "-c", DRIVER, json.dumps(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=True,
    ).stdout
    assert shown.decode() == expected
    assert log_of(tmp_path).decode() == expected * 2


def test_pty_output_is_terminal_output(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    run(py(INTERLEAVED), tmp_path, use_pty=True)
    expected = "".join(f"out{i}\r\nerr{i}\r\n" for i in range(5))
    assert capfd.readouterr().out == expected
    assert log_of(tmp_path).decode() == expected


@pytest.mark.parametrize("use_pty", [False, True])
def test_child_sees_a_terminal_only_with_a_pty(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], use_pty: bool
) -> None:
    code = (
        "import os, sys\n"
        "try:\n"
        "    os.close(os.open('/dev/tty', os.O_RDWR)); own = True\n"
        "except OSError:\n"
        "    own = False\n"
        "print(sys.stdout.isatty(), sys.stderr.isatty(), own, os.get_terminal_size(1).columns"
        " if sys.stdout.isatty() else 0)\n"
    )
    run(py(code), tmp_path, use_pty=use_pty)
    out = capfd.readouterr().out.split()
    if use_pty:  # a pty of its own, as its controlling terminal, with a window size
        assert out[:3] == ["True", "True", "True"] and int(out[3]) > 0
    else:
        assert out[:2] == ["False", "False"]


def test_large_output_is_not_truncated(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code = (
        "import sys\n"
        "line = b'0123456789' * 10 + b'\\n'\n"
        "for _ in range(50_000): sys.stdout.buffer.write(line)\n"
    )
    assert run(py(code), tmp_path, use_pty=False).exit_code == 0
    expected = (b"0123456789" * 10 + b"\n") * 50_000
    assert len(expected) > 5_000_000
    assert log_of(tmp_path) == expected
    assert capfd.readouterr().out == expected.decode()


def test_binary_output_survives_byte_for_byte(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 64 + b"\xff\xfe\x80invalid utf-8\xc3\x28"
    code = f"import sys; sys.stdout.buffer.write({payload!r})"
    run(py(code), tmp_path, use_pty=False, echo=False)
    assert log_of(tmp_path) == payload


def test_log_is_appended_to(tmp_path: Path) -> None:
    run(py("print('one')"), tmp_path, echo=False)
    run(py("print('two')"), tmp_path, echo=False)
    assert log_of(tmp_path) == b"one\ntwo\n"


def test_log_is_written_while_the_child_runs(tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = (
        "import os, time\n"
        "print('first', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        "print('second')\n"
    )
    results: list[LaunchResult] = []
    # Off the main thread launch() installs no signal handlers; it still runs the child.
    thread = threading.Thread(target=lambda: results.append(run(py(code), tmp_path, echo=False)))
    thread.start()
    try:
        wait_for(lambda: (tmp_path / "run.log").exists() and log_of(tmp_path) == b"first\n")
    finally:
        go.touch()
        thread.join(30)
    assert results[0].exit_code == 0
    assert log_of(tmp_path) == b"first\nsecond\n"


def test_a_grandchild_holding_the_output_does_not_hold_up_the_run(tmp_path: Path) -> None:
    code = "import subprocess\np = subprocess.Popen(['sleep', '60'])\nprint(p.pid, flush=True)\n"
    for use_pty in (False, True):
        (tmp_path / "run.log").unlink(missing_ok=True)
        started = time.monotonic()
        result = run(py(code), tmp_path, use_pty=use_pty, echo=False)
        assert result.exit_code == 0 and time.monotonic() - started < 10
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(log_of(tmp_path).split()[0]), signal.SIGKILL)


# -- signals -----------------------------------------------------------------------------------

READY = "import signal, sys, time, pathlib\n"


def driver_config(tmp_path: Path, argv: list[str], *, use_pty: bool) -> dict[str, Any]:
    return {
        "argv": argv,
        "cwd": str(tmp_path),
        "log": str(tmp_path / "run.log"),
        "use_pty": use_pty,
        "result": str(tmp_path / "result.json"),
    }


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def wait_for_log(tmp_path: Path, text: str) -> None:
    log = tmp_path / "run.log"
    wait_for(lambda: log.exists() and text.encode() in log.read_bytes())


def finish(driver: subprocess.Popen[bytes], tmp_path: Path) -> dict[str, Any]:
    driver.wait(timeout=30)
    result: dict[str, Any] = json.loads((tmp_path / "result.json").read_text())
    return result


@contextlib.contextmanager
def detached_driver(tmp_path: Path, argv: list[str], *, use_pty: bool) -> Iterator[Any]:
    """cairn with no terminal at all, as under CI, systemd or docker."""
    cfg = driver_config(tmp_path, argv, use_pty=use_pty)
    driver = subprocess.Popen(
        [PY, "-c", DRIVER, json.dumps(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield driver
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()


@pytest.mark.parametrize("use_pty", [False, True])
def test_sigterm_is_forwarded(tmp_path: Path, use_pty: bool) -> None:
    marker = tmp_path / "marker"
    code = READY + (
        "def bye(s, f):\n"
        f"    pathlib.Path({str(marker)!r}).write_text(str(s)); sys.exit(1)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    with detached_driver(tmp_path, py(code), use_pty=use_pty) as driver:
        wait_for_log(tmp_path, "ready")
        driver.send_signal(signal.SIGTERM)
        result = finish(driver, tmp_path)
    assert marker.read_text() == str(int(signal.SIGTERM))
    assert (result["status"], result["exit_code"], result["signal"]) == ("killed", 1, 15)


@pytest.mark.parametrize("use_pty", [False, True])
def test_sigint_is_forwarded_and_python_dies_of_it(tmp_path: Path, use_pty: bool) -> None:
    code = "import time; print('ready', flush=True); time.sleep(60)"
    with detached_driver(tmp_path, py(code), use_pty=use_pty) as driver:
        wait_for_log(tmp_path, "ready")
        driver.send_signal(signal.SIGINT)
        result = finish(driver, tmp_path)
    assert (result["status"], result["exit_code"], result["signal"]) == ("killed", 130, 2)
    assert b"KeyboardInterrupt" in log_of(tmp_path)


def test_a_second_sigint_soon_after_kills(tmp_path: Path) -> None:
    code = READY + (
        "signal.signal(signal.SIGINT, lambda s, f: print('got', s, flush=True))\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(1)\n"
    )
    with detached_driver(tmp_path, py(code), use_pty=False) as driver:
        wait_for_log(tmp_path, "ready")
        driver.send_signal(signal.SIGINT)
        wait_for_log(tmp_path, "got 2")
        driver.send_signal(signal.SIGINT)
        result = finish(driver, tmp_path)
    assert (result["status"], result["exit_code"], result["signal"]) == ("killed", 137, 9)


# -- in a terminal -----------------------------------------------------------------------------


def _controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@contextlib.contextmanager
def terminal_driver(
    tmp_path: Path, argv: list[str], *, use_pty: bool, rows: int = 24, cols: int = 80
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """cairn in a terminal: a pty of the test's, its controlling terminal. Yields the master."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    cfg = driver_config(tmp_path, argv, use_pty=use_pty)
    driver = subprocess.Popen(
        [PY, "-c", DRIVER, json.dumps(cfg)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=_controlling_terminal,
    )
    os.close(slave)
    stop = threading.Event()

    def read_terminal() -> None:  # what a terminal emulator does: keep reading the screen
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    return

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        yield driver, master
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
        stop.set()
        reader.join()
        os.close(master)


def test_ctrl_c_in_a_terminal_reaches_a_piped_child_once(tmp_path: Path) -> None:
    # The terminal signals cairn's whole process group; cairn must not send a second SIGINT.
    code = READY + (
        "got = []\n"
        "signal.signal(signal.SIGINT, lambda s, f: got.append(s))\n"
        "print('ready', flush=True)\n"
        "while not got: time.sleep(0.01)\n"
        "time.sleep(0.3)\n"
        "sys.exit(10 + len(got))\n"
    )
    with terminal_driver(tmp_path, py(code), use_pty=False) as (driver, master):
        wait_for_log(tmp_path, "ready")
        os.write(master, b"\x03")
        result = finish(driver, tmp_path)
    assert (result["status"], result["exit_code"], result["signal"]) == ("killed", 11, 2)


def test_ctrl_c_typed_reaches_the_child_through_its_pty(tmp_path: Path) -> None:
    code = "import time; print('ready', flush=True); time.sleep(60)"
    with terminal_driver(tmp_path, py(code), use_pty=True) as (driver, master):
        wait_for_log(tmp_path, "ready")
        os.write(master, b"\x03")
        result = finish(driver, tmp_path)
    assert (result["status"], result["exit_code"], result["signal"]) == ("killed", 130, 2)
    assert result["tty_restored"]


def test_keys_and_window_size_reach_the_child(tmp_path: Path) -> None:
    code = READY + (
        "import os\n"
        "def size(*_):\n"
        "    s = os.get_terminal_size(1); print('size', s.lines, s.columns, flush=True)\n"
        "signal.signal(signal.SIGWINCH, size)\n"
        "size()\n"
        "print('typed', input(), flush=True)\n"
        "time.sleep(60)\n"
    )
    with terminal_driver(tmp_path, py(code), use_pty=True, rows=30, cols=100) as (d, master):
        wait_for_log(tmp_path, "size 30 100")
        os.write(master, b"hello\r")
        wait_for_log(tmp_path, "typed hello")
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        wait_for_log(tmp_path, "size 40 120")
        d.send_signal(signal.SIGTERM)
        result = finish(d, tmp_path)
    assert (result["status"], result["signal"]) == ("killed", 15)
    assert result["tty_restored"]


def test_result_is_plain_data() -> None:
    result = LaunchResult(0, "finished", None, 0.1, 1, None)
    assert json.loads(json.dumps(asdict(result)))["status"] == "finished"
