"""The console script: a Ctrl-C while the CLI is still starting (importing commands, building their options)
ends in one line and exit 130; it was a 40-line KeyboardInterrupt traceback."""

from __future__ import annotations

import sys
import tomllib
import types
from pathlib import Path

import pytest

from denoise_gan.launch import main


@pytest.fixture(autouse=True)
def _signal_handlers_restored() -> object:
    """main() installs the CLI's SIGINT/SIGTERM/SIGHUP handlers: the test process gets its own back."""
    import signal

    taken = (signal.SIGINT, signal.SIGTERM, *(sig for sig in [getattr(signal, "SIGHUP", None)] if sig is not None))
    previous = {sig: signal.getsignal(sig) for sig in taken}
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _exit_code_of_main(monkeypatch: pytest.MonkeyPatch, app: object) -> object:
    """The code the console script exits with when the CLI it starts is ``app``."""
    fake = types.ModuleType("denoise_gan.cli")
    fake.app = app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "denoise_gan.cli", fake)
    with pytest.raises(SystemExit) as stopped:
        main()
    return stopped.value.code


def test_the_console_script_is_the_launcher() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["denoise-gan"] == "denoise_gan.launch:main"


def test_a_ctrl_c_while_starting_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def interrupted_while_building(**_: object) -> None:
        raise KeyboardInterrupt

    assert _exit_code_of_main(monkeypatch, interrupted_while_building) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_a_sigterm_while_starting_exits_as_a_sigterm_and_the_handlers_are_in_place(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A scheduler's stop (SIGTERM) during the start exits 143, not a Ctrl-C's 130; and the launcher installs the
    handlers that turn a SIGTERM into the command's own "interrupted" line (without them it killed the process
    outright: no line, temp files left)."""
    import signal

    from denoise_gan import interrupts

    def terminated_while_building(**_: object) -> None:
        interrupts._noted(signal.SIGTERM, None)  # as the handler does when the signal lands: KeyboardInterrupt

    monkeypatch.setattr(signal, "getsignal", lambda sig: signal.SIG_DFL if sig == signal.SIGTERM else
                        signal.default_int_handler)  # as a fresh process starts
    monkeypatch.setattr(interrupts._Seen, "signum", 0)
    monkeypatch.setattr(interrupts._Seen, "count", 0)
    assert _exit_code_of_main(monkeypatch, terminated_while_building) == 143
    assert capsys.readouterr().err == "interrupted\n"
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGTERM) is interrupts._noted


@pytest.mark.parametrize("code", [0, 1, 2])
def test_the_launcher_exits_with_the_commands_own_code(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """A refused command (2) or a batch with a failed file (1) must not exit 0 through the console script."""
    def finished(**_: object) -> None:
        raise SystemExit(code)

    assert _exit_code_of_main(monkeypatch, finished) == code


def test_a_ctrl_c_while_options_are_parsed_says_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Typer turns it into exit 130 without a word (a command's own notice ends with the same code)."""
    import typer.core

    from helpers import cli

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(typer.core.TyperCommand, "parse_args", interrupted)
    result = cli("denoise", "a.png", "-o", "out")
    assert result.exit_code == 130 and result.stderr.strip() == "interrupted", (result.exit_code, result.output)


def test_an_error_that_follows_a_ctrl_c_is_the_interrupt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An interrupt inside an import can leave a module half made, whose next use fails in its own words (onnx's
    import ended in a RecursionError from numpy): that is reported as the interrupt, not as a traceback."""
    import signal

    from denoise_gan import interrupts
    from denoise_gan.nets import export
    from helpers import cli

    def half_made(*_: object, **__: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(export, "export_model", half_made)
    failed = cli("export", "default", "-o", tmp_path / "g.onnx")
    assert isinstance(failed.exception, RecursionError)  # no Ctrl-C: a bug stays a bug, never hidden
    monkeypatch.setattr(interrupts._Seen, "count", 0)
    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job starts with SIGINT ignored
        interrupts.watch_ctrl_c()
        handler = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    with pytest.raises(KeyboardInterrupt):  # called as Python would on Ctrl-C (no real signal: none can stray)
        handler(signal.SIGINT, None)
    assert interrupts.ctrl_c_seen()
    result = cli("export", "default", "-o", tmp_path / "g.onnx")
    assert result.exit_code == 130 and result.stderr.startswith("interrupted"), (result.exit_code, result.output)
    assert "Traceback" not in result.output

    def a_bug(*_: object, **__: object) -> None:
        raise ZeroDivisionError("a real bug")

    monkeypatch.setattr(export, "export_model", a_bug)  # not how a half-made module fails: never hidden
    assert isinstance(cli("export", "default", "-o", tmp_path / "g.onnx").exception, ZeroDivisionError)


def test_an_error_raised_by_an_interrupt_is_the_interrupt_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C inside pydantic's __set_name__ (albumentations' import) reaches the command as a RuntimeError
    whose cause is the KeyboardInterrupt: it was a 70-line traceback, exit 1. The interrupt's line, with its
    hint, was also wrapped at 80 columns in a log."""
    from denoise_gan.evaluation import benchmark
    from helpers import cli

    def cut_short(*_: object, **__: object) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on 'PydanticDescriptorProxy' instance") from exc

    monkeypatch.setattr(benchmark, "run_benchmark", cut_short)
    result = cli("benchmark", "--methods", "tv", "-o", "out")
    assert result.exit_code == 130 and "Traceback" not in result.output, (result.exit_code, result.output)
    assert result.stderr.startswith("interrupted; every row written is kept") and result.stderr.count("\n") == 1
    # --resume before the folder exists is refused: the hint says what to run then
    assert "(if no -o folder was made yet, the same command without --resume starts it)" in result.stderr

    def a_bug(*_: object, **__: object) -> None:
        try:
            raise ValueError("inner")
        except ValueError as exc:
            raise RuntimeError("a real bug") from exc

    monkeypatch.setattr(benchmark, "run_benchmark", a_bug)
    assert isinstance(cli("benchmark", "--methods", "tv", "-o", "out").exception, RuntimeError)


def test_a_sigterm_is_taken_as_a_ctrl_c_and_exits_143(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    """A scheduler's stop or `timeout` killed a batch at once: a temp file left, no line saying how to finish."""
    import signal

    from denoise_gan import interrupts

    monkeypatch.setattr(interrupts._Seen, "count", 0)
    monkeypatch.setattr(interrupts._Seen, "signum", 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    interrupts.watch_ctrl_c()
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):  # called as Python would on SIGTERM (no real signal: none can stray)
        handler(signal.SIGTERM, None)
    assert interrupts.ctrl_c_seen() and interrupts.interrupt_exit_code() == 143

    def interrupted_in_a_command(**_: object) -> None:
        raise SystemExit(130)  # how the CLI ends any interrupt it reported

    monkeypatch.setattr(interrupts, "watch_ctrl_c", lambda: None)
    assert _exit_code_of_main(monkeypatch, interrupted_in_a_command) == 143


def test_a_sigterm_inside_an_exec_still_exits_143_under_python_m(tmp_path: Path) -> None:
    """scipy runs ``exec`` on a string while it imports: a SIGTERM that landed there left the process killed by
    SIGINT under ``python -m`` (CPython marks such an interrupt unhandled), so a scheduler's stop read as a Ctrl-C."""
    import os
    import signal
    import subprocess

    (tmp_path / "stopped_in_exec.py").write_text(
        "import denoise_gan.cli\n"
        "from denoise_gan.launch import main\n"
        "def app(**_):\n"
        "    exec('import os, signal, time\\nos.kill(os.getpid(), signal.SIGTERM)\\ntime.sleep(30)')\n"
        "denoise_gan.cli.app = app\n"
        "main()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[2])])}
    done = subprocess.run([sys.executable, "-m", "stopped_in_exec"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 143 != -signal.SIGINT, (done.returncode, done.stderr)
    assert done.stderr.strip().splitlines()[-1:] == ["interrupted"], done.stderr


def test_a_signal_the_process_was_started_ignoring_stays_ignored() -> None:
    """`nohup` (SIGINT, SIGHUP) and a background job of a script (SIGINT) start with the signal ignored, as the
    user asked: the CLI's handlers take only signals still at Python's defaults."""
    import signal

    from denoise_gan import interrupts

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for s in saved:
            signal.signal(s, signal.SIG_IGN)
        interrupts.watch_ctrl_c()
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in saved)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_a_name_stdout_cannot_encode_is_written_escaped_not_a_traceback(tmp_path: Path) -> None:
    """A results line naming a folder in a script the terminal's or log's encoding lacks (latin-1, Windows'
    cp1252 when redirected) raised UnicodeEncodeError after the work, and a finished set exited 1."""
    import os
    import subprocess

    import numpy as np

    from data_tools.images import write_image

    write_image(tmp_path / "写真" / "a.png", np.zeros((16, 16, 3), np.uint8))
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "denoise_gan", "synth", "写真", "-o", "合成", "--noise",
                           "gaussian:sigma=5"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          encoding="ascii", errors="replace", timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "wrote 1 image(s) to \\u5408\\u6210" in done.stdout, done.stdout


def test_a_removed_working_folder_is_said_not_a_bare_errno(tmp_path: Path) -> None:
    """Run from a folder deleted under the shell, every relative path failed with "[Errno 2] No such file or
    directory", naming nothing."""
    import os
    import subprocess

    gone = tmp_path / "gone"
    gone.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "denoise_gan", "demo", "-o", "out"], env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=lambda: (os.chdir(gone), os.rmdir(gone)))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() == "error: the working folder no longer exists (removed while the shell was in it), " \
        "so no relative path can be found; cd to an existing folder, or give absolute paths", done.stderr


@pytest.mark.parametrize("redirect", [">&-", "2>&-", "1<c/a.png", "2<c/a.png"])
def test_a_closed_stream_loses_its_output_not_the_work(tmp_path: Path, redirect: str) -> None:
    """`denoise 2>&-` wrote no image and exited 1 without a word (Python leaves a closed stream None, and the first
    progress line failed); `evaluate >&-` ended in a traceback before writing its --json. Through a wrapper script
    (pyenv's shims) the closed descriptor is the script's own file, open for reading: the same, with EBADF."""
    import os
    import subprocess

    import numpy as np

    from data_tools.images import write_image

    for folder in ("c", "p"):
        write_image(tmp_path / folder / "a.png", np.full((32, 32, 3), 90 if folder == "c" else 99, np.uint8))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for command in ("denoise p -o out", "evaluate --clean c --pred p --json r.json"):
        done = subprocess.run(["bash", "-c", f'"$0" -m denoise_gan {command} {redirect}', sys.executable],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert (tmp_path / "out" / "a.png").is_file() and (tmp_path / "r.json").is_file()
