"""A hang-up (SIGHUP: an ssh session dropped, a terminal window closed) is taken as a SIGTERM is: the "interrupted"
line, temp files removed, exit 129, where it killed the process where it stood. The terminal it came from is gone,
and what the command still writes there fails with EIO: that is output lost, not the work. A command started
ignoring it (``nohup``) runs on. Training's side (the step finished and saved) is in
tests/training/test_interrupts.py."""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from denoise_gan import interrupts
from denoise_gan.cli.log_stream import LOG_GONE, READER_GONE, LogStream
from denoise_gan.launch import main
from helpers import CHILD_ENV, signal_group, smooth_rgb

pty = pytest.importorskip("pty", reason="POSIX only: Windows has no pty, nor SIGHUP")


@pytest.fixture(autouse=True)
def _signal_handlers_restored() -> Iterator[None]:
    """watch_ctrl_c() installs the CLI's handlers: the test process gets its own back."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@contextmanager
def _hung_up_terminal() -> Iterator[int]:
    """The terminal side of a pty whose other side (the ssh session, the window) has closed: writes fail with EIO."""
    master, slave = pty.openpty()
    os.close(master)
    try:
        yield slave
    finally:
        os.close(slave)


def test_a_hangup_is_taken_as_an_interrupt_and_exits_129() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as a fresh process starts from a terminal
    interrupts.watch_ctrl_c()
    handler = signal.getsignal(signal.SIGHUP)
    assert handler is interrupts._noted
    with pytest.raises(KeyboardInterrupt):  # called as Python would on SIGHUP (no real signal: none can stray)
        handler(signal.SIGHUP, None)
    assert interrupts.ctrl_c_seen() and interrupts.interrupt_exit_code() == 129
    assert interrupts.hangup_to_take() == (signal.SIGHUP,)  # training's handler takes it too


def test_a_hangup_the_process_was_started_ignoring_stays_ignored() -> None:
    """`nohup` starts the command with SIGHUP ignored so that it outlives its terminal: nothing here takes it."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    interrupts.watch_ctrl_c()
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    assert interrupts.hangup_to_take() == ()


@pytest.mark.parametrize("gone", [LOG_GONE, READER_GONE], ids=["stderr", "stdout"])
def test_writes_to_a_hung_up_terminal_are_lost_output_not_an_error(gone: tuple[int, ...]) -> None:
    with _hung_up_terminal() as slave:
        real = open(os.dup(slave), "w")  # noqa: SIM115 (closed below)
        with pytest.raises(OSError) as refused:
            real.write("a progress line\n")
            real.flush()
        assert refused.value.errno == errno.EIO  # what a hung-up terminal says
        stream = LogStream(real, gone)
        assert stream.write("interrupted\n") == len("interrupted\n")
        stream.flush()
        assert stream.lost
        real.write("what is still buffered\n")
        real.close()  # flushed to /dev/null now, as at exit, instead of failing again


def test_eio_from_a_file_stays_an_error(tmp_path: Path) -> None:
    """On a file, EIO is the disk under it failing: the results it should hold are gone, and that is said."""

    class FailingDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.EIO, "Input/output error")

        def fileno(self) -> int:
            return held.fileno()

    with (tmp_path / "log").open("w") as held, pytest.raises(OSError):
        LogStream(FailingDisk(), READER_GONE).write("a result\n")  # type: ignore[arg-type]


def test_the_launcher_s_line_to_a_hung_up_terminal_is_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hang-up while the CLI still starts: its one line goes to the terminal that is gone; the exit code stays."""

    def hung_up_while_building(**_: object) -> None:
        interrupts._noted(signal.SIGHUP, None)

    fake = types.ModuleType("denoise_gan.cli")
    fake.app = hung_up_while_building  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "denoise_gan.cli", fake)
    with _hung_up_terminal() as slave, open(os.dup(slave), "w", buffering=1) as terminal:  # line-buffered: stderr
        monkeypatch.setattr(sys, "stderr", terminal)
        with pytest.raises(SystemExit) as stopped:
            main()
        monkeypatch.undo()
        devnull = os.open(os.devnull, os.O_WRONLY)  # for the file's own close, with the line still in its buffer
        os.dup2(devnull, terminal.fileno())
        os.close(devnull)
    assert stopped.value.code == 129


@contextmanager
def _children_start_with_sighup(disposition: object) -> Iterator[None]:
    """A child started meanwhile inherits ``disposition`` (``nohup``'s SIG_IGN, or the default whatever the test
    run's own: pytest itself may run under nohup)."""
    previous = signal.signal(signal.SIGHUP, disposition)  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def _shown(terminal: int) -> None:
    """What a terminal (a non-blocking pty's side) has been sent, read and dropped: a full one would hold the
    command up."""
    try:
        while os.read(terminal, 65536):
            pass
    except OSError:  # nothing more now (BlockingIOError)
        pass


def _photos(folder: Path, count: int) -> list[str]:
    folder.mkdir()
    names = [f"img{i:02d}.png" for i in range(count)]
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.roll(smooth_rgb(384, 512), 97 * i, axis=1))
    return names


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
@pytest.mark.parametrize("ignored", [False, True], ids=["sighup", "nohup"])
@pytest.mark.parametrize("terminal", [False, True], ids=["to-a-log", "on-the-terminal-that-hung-up"])
def test_a_hangup_during_denoise(weights: Path, tmp_path: Path, terminal: bool, ignored: bool) -> None:
    """To a log, the line says how to finish; on the terminal that hung up, nothing can be said, and the exit code
    and the whole outputs are what is left (a write's EIO ended it with a traceback, exit 1). Under nohup the batch
    runs to its end, also with its output left on the terminal (``nohup cmd 2>&1 | tee``, a job disowned)."""
    names = _photos(tmp_path / "in", 16)
    out, log = tmp_path / "out", tmp_path / "stderr"
    finals = lambda: [p for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []  # noqa: E731
    master, slave = pty.openpty()
    with log.open("w") as err, _children_start_with_sighup(signal.SIG_IGN if ignored else signal.SIG_DFL):
        streams = {"stdout": slave, "stderr": slave} if terminal else \
            {"stdout": subprocess.DEVNULL, "stderr": err}
        proc = subprocess.Popen([sys.executable, "-m", "denoise_gan", "denoise", str(tmp_path / "in"), "-o", str(out),
                                 "-c", str(weights), "--device", "cpu"], env=CHILD_ENV, start_new_session=True,
                                stdin=subprocess.DEVNULL, **streams)  # type: ignore[call-overload]
    os.close(slave)
    os.set_blocking(master, False)
    deadline = time.monotonic() + 90
    while not finals() and proc.poll() is None and time.monotonic() < deadline:
        _shown(master)
        time.sleep(0.02)
    os.close(master)  # the ssh session, the window: gone
    signal_group(proc, signal.SIGHUP, log.read_text, timeout=90)
    said = log.read_text()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "a temp file left behind"
    if ignored:
        assert proc.returncode == 0 and len(finals()) == len(names), said[-3000:]
        return
    assert proc.returncode == 129, said[-3000:]  # (-1: killed by the signal; 1: a traceback)
    assert 0 < len(finals()) < len(names)
    if not terminal:
        assert "Traceback" not in said, said[-3000:]
        assert said.strip().splitlines()[-1].startswith("interrupted; every output written is whole"), said[-3000:]
