"""Atomic writes: temp file and rename, with the usual permissions.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from data_tools.images import write_image

torch.set_num_threads(1)  # the suite shares two cores with a training job


def test_atomic_writes_get_the_usual_file_permissions(tmp_path: Path) -> None:
    """Temp-file-and-rename must not leave outputs readable only by their owner (mkstemp makes 0600 files)."""
    target = tmp_path / "out.png"
    write_image(target, np.zeros((4, 4, 3), np.uint8))
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_outputs_follow_the_umask_of_their_time_not_of_the_import(tmp_path: Path) -> None:
    """A service that imports the package, then makes its files private (umask 077), got world-readable outputs:
    the umask was read once, at import."""
    from data_tools.atomic_files import built_aside

    before = os.umask(0o077)
    try:
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
        with built_aside(tmp_path / "folder") as folder:
            (folder / "x.txt").write_text("x")
    finally:
        os.umask(before)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o700


def test_a_device_or_pipe_is_never_replaced_by_a_file(tmp_path: Path) -> None:
    """`evaluate --json /dev/full --overwrite` run as root replaced the device node with a JSON file; a pipe a
    reader was waiting on became a regular file."""
    import stat

    import pytest

    from data_tools.atomic_files import OutputWriteError, atomic_write_bytes
    from helpers import cli, one_line_error

    pipe = tmp_path / "r.json"
    os.mkfifo(pipe)
    with pytest.raises(OutputWriteError, match="is a device or a pipe"):
        atomic_write_bytes(pipe, b"{}")
    write_image(tmp_path / "c" / "a.png", np.full((16, 16, 3), 9, np.uint8))
    result = cli("evaluate", "--clean", tmp_path / "c", "--pred", tmp_path / "c", "--json", pipe, "--overwrite")
    one_line_error(result, "is a device or a pipe")
    assert "PSNR" not in result.stdout  # refused before any scoring, not after it
    assert stat.S_ISFIFO(pipe.stat().st_mode) and not list(tmp_path.glob(".*.part"))


def test_a_folder_a_killed_build_left_is_removed_by_the_next_build(tmp_path: Path) -> None:
    """A killed export left its hidden temp folder beside the output for good: only temp files were cleaned."""
    import subprocess

    from data_tools.atomic_files import built_aside

    gone = subprocess.Popen(["true"])
    gone.wait()
    left = tmp_path / f".hub.{gone.pid}-abcdefgh.part"
    (left / "sub").mkdir(parents=True)
    (left / "model.safetensors").write_bytes(b"half")
    live = tmp_path / f".other.{os.getpid()}-abcdefgh.part"  # a writer still running: kept
    live.mkdir()
    with built_aside(tmp_path / "hub") as folder:
        (folder / "a.txt").write_text("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "hub"]
    assert (tmp_path / "hub" / "a.txt").read_text() == "done"


def test_a_run_starting_while_a_reader_tests_its_lock_is_not_refused(tmp_path: Path) -> None:
    """`denoise -c RUN` tests whether a run is training by taking its folder's lock for an instant; a `train
    --resume RUN` starting in that instant was refused as if another run were writing the folder."""
    import fcntl
    import threading

    from data_tools.folder_lock import held_by_another_process, holding_folder

    def reader_testing_the_lock() -> None:
        probe = os.open(tmp_path, os.O_RDONLY)
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        threading.Timer(0.1, os.close, (probe,)).start()  # the reader lets go

    reader_testing_the_lock()
    assert not held_by_another_process(tmp_path)  # --resume's first check
    reader_testing_the_lock()
    with holding_folder(tmp_path):  # the run's own lock
        pass


def test_an_existing_empty_folder_is_written_in_place_and_emptied_again_on_failure(tmp_path: Path) -> None:
    """Swapping a new folder in for an empty one failed on a mount point and on `-o .`, and dropped the folder's
    owner and mode; in place, a failure leaves it empty, so the retry is not refused."""
    import pytest

    from data_tools.atomic_files import built_aside

    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o2770)
    inode = out.stat().st_ino
    with pytest.raises(OSError), built_aside(out) as folder:
        (folder / "model.safetensors").write_bytes(b"weights")
        (folder / "sub").mkdir()
        raise OSError(28, "No space left on device")
    assert list(out.iterdir()) == []
    with built_aside(out) as folder:
        (folder / "model.safetensors").write_bytes(b"weights")
    assert out.stat().st_ino == inode and out.stat().st_mode & 0o7777 == 0o2770
    assert (out / "model.safetensors").read_bytes() == b"weights"


def test_a_new_folder_another_process_made_meanwhile_is_never_replaced(tmp_path: Path) -> None:
    """Two runs building the same new folder: the second to finish is refused and removes only its own build;
    the first one's files stay, and an empty folder made meanwhile takes the build."""
    from data_tools.atomic_files import OutputExistsError, built_aside

    out = tmp_path / "out"
    with pytest.raises(OutputExistsError, match="another process wrote it meanwhile; nothing was replaced"), \
            built_aside(out) as folder:
        (folder / "model.safetensors").write_bytes(b"mine")
        out.mkdir()
        (out / "model.safetensors").write_bytes(b"theirs")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (out / "model.safetensors").read_bytes() == b"theirs"
    empty = tmp_path / "empty"
    with built_aside(empty) as folder:
        (folder / "a.txt").write_text("mine")
        empty.mkdir()
    assert (empty / "a.txt").read_text() == "mine"


def test_a_write_that_fails_while_a_folder_is_built_names_the_file_asked_for(tmp_path: Path) -> None:
    """`export -f folder` on a full disk named its hidden temp folder (.out.1234-abcdefgh.part/model.safetensors)."""
    from data_tools.atomic_files import NoRoomError, built_aside, write_error

    for out in (tmp_path / "new", tmp_path / "existing"):
        if out.name == "existing":
            out.mkdir()
        with pytest.raises(NoRoomError) as caught, built_aside(out) as folder:
            raise write_error(folder / "model.safetensors", OSError(errno.ENOSPC, "No space left on device"))
        assert str(caught.value) == f"{out / 'model.safetensors'}: cannot write (No space left on device)"
        assert not list(tmp_path.rglob("*.part"))


def test_an_interrupt_while_the_files_move_in_waits_for_all_of_them(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """`export --overwrite` into a model folder, interrupted between two renames, left the new README, config and
    graph beside the earlier weights; the interrupt now arrives once every file is in."""
    import signal

    import pytest

    from data_tools import atomic_files
    from data_tools.atomic_files import built_aside

    out = tmp_path / "out"
    out.mkdir()
    for name in ("README.md", "model.onnx", "model.safetensors"):
        (out / name).write_text("old")
    real = os.replace
    moved: list[str] = []

    def replace_then_interrupt(src: str, dst: Path) -> None:
        real(src, dst)
        moved.append(Path(dst).name)
        if len(moved) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C right after the first rename

    monkeypatch.setattr(atomic_files.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt), built_aside(out) as folder:
        for name in ("README.md", "model.onnx", "model.safetensors"):
            (folder / name).write_text("new")
    assert moved == ["README.md", "model.onnx", "model.safetensors"]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "model.onnx", "model.safetensors"]
    assert {(out / n).read_text() for n in moved} == {"new"}


def test_a_ctrl_c_and_a_sigterm_held_together_both_reach_their_handlers(tmp_path: Path,
                                                                        monkeypatch) -> None:  # noqa: ANN001
    """Raised again one after the other, the Ctrl-C's KeyboardInterrupt stopped the loop: SIGTERM's handler
    never ran (its exit code, 143, was lost). A hang-up (SIGHUP) is held with them."""
    import signal

    import pytest

    from data_tools import atomic_files
    from data_tools.atomic_files import built_aside

    seen: list[int] = []

    def noted(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    real = os.replace

    sent = [sig for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig is not None]

    def replace_then_both(src: str, dst: Path) -> None:
        real(src, dst)
        for sig in sent:  # all arrive while the files move in
            os.kill(os.getpid(), sig)

    before = {sig: signal.signal(sig, noted) for sig in sent}
    try:
        (tmp_path / "out").mkdir()
        monkeypatch.setattr(atomic_files.os, "replace", replace_then_both)
        with pytest.raises(KeyboardInterrupt), built_aside(tmp_path / "out") as folder:
            (folder / "a.txt").write_text("new")
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert seen == sent


def test_a_ctrl_c_while_the_handlers_are_put_back_leaves_none_behind(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Put back one at a time, a Ctrl-C after the first left SIGTERM on the temporary handler, which from then on
    swallowed every SIGTERM."""
    import signal

    import pytest

    from data_tools import atomic_files
    from data_tools.atomic_files import built_aside

    held = [sig for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig is not None]
    originals = {sig: signal.getsignal(sig) for sig in held}
    real = signal.signal
    calls: list[int] = []

    def then_ctrl_c(sig: int, handler: object) -> object:
        previous = real(sig, handler)
        calls.append(sig)
        if len(calls) == len(held) + 1:  # all installed, the first put back: a Ctrl-C arrives now
            raise KeyboardInterrupt
        return previous

    (tmp_path / "out").mkdir()
    monkeypatch.setattr(atomic_files.signal, "signal", then_ctrl_c)
    with pytest.raises(KeyboardInterrupt), built_aside(tmp_path / "out") as folder:
        (folder / "a.txt").write_text("new")
    monkeypatch.undo()
    assert {sig: signal.getsignal(sig) for sig in originals} == originals


def test_a_file_system_without_locks_runs_unlocked(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """NFS without its lock daemon answers flock with ENOLCK: a traceback, where the OS without flock ran."""
    import errno
    import fcntl

    from data_tools.folder_lock import held_by_another_process, holding_folder

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with holding_folder(tmp_path / "run"):
        assert not held_by_another_process(tmp_path / "run")


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs fork")
def test_a_forked_worker_does_not_keep_the_runs_lock(tmp_path: Path) -> None:
    """A data-loading worker forked while the run held its folder kept the lock (it belongs to the open file, which
    the fork shares): a run killed with SIGKILL could not be resumed until its orphaned workers died."""
    import multiprocessing
    import time

    from data_tools.folder_lock import held_by_another_process, holding_folder

    with holding_folder(tmp_path / "run"):
        worker = multiprocessing.get_context("fork").Process(target=time.sleep, args=(3,))
        worker.start()
    try:
        assert not held_by_another_process(tmp_path / "run")  # the run's end freed it, the worker still lives
        assert worker.is_alive()
    finally:
        worker.terminate()
        worker.join()


def test_a_killed_writer_not_yet_reaped_leaves_no_temp_file_behind(tmp_path: Path) -> None:
    """A killed process answers kill(pid, 0) until its parent reaps it (`timeout -s KILL` lingers ~2 s; an init
    that never reaps, for good), so the next run kept its half-written file."""
    import subprocess
    import sys
    import time

    import pytest

    from data_tools.temp_files import remove_stale_parts

    if not Path("/proc/self/stat").is_file():
        pytest.skip("no /proc here: a zombie cannot be told from a live writer")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(200):  # ended, but not waited for: a zombie
        if Path(f"/proc/{gone.pid}/stat").is_file() and \
                Path(f"/proc/{gone.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            break
        time.sleep(0.02)
    half = tmp_path / f".a.png.{gone.pid}-abcdefgh.part"
    half.write_bytes(b"half")
    live = tmp_path / f".b.png.{os.getpid()}-abcdefgh.part"
    live.write_bytes(b"being written")
    try:
        assert remove_stale_parts(tmp_path) == 1
        assert not half.exists() and live.exists()
    finally:
        gone.wait()


def test_a_pipe_named_as_a_run_folder_is_refused_not_waited_on(tmp_path: Path) -> None:
    """`train -o FIFO` hung for ever: the lock probe opened the pipe to read, which waits for a writer."""
    import threading

    from data_tools.folder_lock import held_by_another_process

    os.mkfifo(tmp_path / "pipe")
    answer: list[bool] = []
    probe = threading.Thread(target=lambda: answer.append(held_by_another_process(tmp_path / "pipe")), daemon=True)
    probe.start()
    probe.join(5)
    assert answer == [False], "the probe waited on the pipe"  # (then the run refuses it: not a folder)


def test_a_full_disk_mid_write_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import errno

    import pytest

    from data_tools import atomic_files
    from data_tools.atomic_files import OutputWriteError

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_files.os, "fsync", full)
    with pytest.raises(OutputWriteError, match="No space left"):
        atomic_files.atomic_write_bytes(tmp_path / "results.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_holding_only_a_killed_writers_temp_file_counts_as_empty(tmp_path: Path) -> None:
    """A photo's temp file that a killed run left made the folder "not empty" for the next run; it is cleared."""
    import pytest

    from data_tools.atomic_files import OutputWriteError
    from data_tools.output_folders import prepare_output_dir

    out = tmp_path / "out"
    out.mkdir()
    (out / ".camera.png.999999-abcd1234.part").write_bytes(b"half a file")  # no process 999999 is alive
    prepare_output_dir(out)
    assert list(out.iterdir()) == []
    (out / "mine.part").write_bytes(b"a user's file")  # not one of ours: the folder is not empty
    with pytest.raises(OutputWriteError, match="not empty"):
        prepare_output_dir(out)


def test_a_not_empty_refusal_names_the_users_files_before_the_commands_own(tmp_path: Path) -> None:
    """The entries that made it refuse come first: a folder of a set's clean/, noisy/ and manifest.json plus one
    file of the user's named the set's three and hid the user's behind "..."."""
    from data_tools.atomic_files import OutputWriteError
    from data_tools.output_folders import prepare_output_dir

    for name in ("clean", "noisy"):
        (tmp_path / name).mkdir()
    for name in ("manifest.json", "zz_notes.txt"):
        (tmp_path / name).write_text("x")
    with pytest.raises(OutputWriteError, match=r"not empty \(4 entries: zz_notes\.txt, clean, manifest\.json"):
        prepare_output_dir(tmp_path, known=("clean", "noisy", "manifest.json"))


def test_without_proc_outputs_take_the_umask_of_import_and_never_set_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc states no umask (macOS, sandboxes), reading it means setting it, which leaves another thread's
    new files unmasked for that instant: it is read once, at import, not before every write."""
    from data_tools import atomic_files

    def no_proc(*_: object, **__: object) -> None:
        raise OSError("no /proc here")

    monkeypatch.setattr(atomic_files, "open", no_proc, raising=False)
    monkeypatch.setattr(atomic_files.os, "umask", lambda *_: pytest.fail("the umask was set to read it"))
    write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o666 & ~atomic_files._UMASK_AT_IMPORT


def test_a_write_that_fails_before_its_first_byte_closes_its_temp_file(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing fchmod left the temp file's descriptor open: one per output of a batch, until the process ran out
    of them."""
    import errno

    from data_tools import atomic_files
    from data_tools.atomic_files import OutputWriteError

    def refused(fd: int, mode: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(atomic_files.os, "fchmod", refused)
    before = len(os.listdir("/proc/self/fd"))
    for n in range(5):
        with pytest.raises(OutputWriteError):
            atomic_files.atomic_write_bytes(tmp_path / f"{n}.json", b"{}")
    assert len(os.listdir("/proc/self/fd")) == before and list(tmp_path.iterdir()) == []


def test_without_hard_links_a_failed_move_leaves_no_empty_output(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Where hard links are refused (FAT, some shares) the output's name is reserved with an empty file before the
    move; a move that then failed left that empty file, which --skip-existing took for a finished output."""
    import errno

    from data_tools import atomic_files
    from data_tools.atomic_files import OutputWriteError

    def no_links(src: str, dst: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    def failed_move(src: str, dst: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(atomic_files.os, "link", no_links)
    monkeypatch.setattr(atomic_files.os, "replace", failed_move)
    with pytest.raises(OutputWriteError):
        atomic_files.atomic_write_bytes(tmp_path / "a.png", b"png", overwrite=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("refusal", [errno.EPERM, errno.ENOSYS])
def test_a_disk_that_keeps_no_modes_or_links_still_takes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   refusal: int) -> None:
    """FAT through FUSE answers chmod and link with ENOSYS: every output failed "Function not implemented",
    although a mode is a nicety and the reservation fallback writes without links."""
    from data_tools import atomic_files

    def refused(*args: object) -> None:
        raise OSError(refusal, os.strerror(refusal))

    for name in ("fchmod", "chmod", "link"):
        monkeypatch.setattr(atomic_files.os, name, refused)
    atomic_files.atomic_write_bytes(tmp_path / "a.png", b"png", overwrite=False)
    with atomic_files.built_aside(tmp_path / "folder") as building:
        (building / "b.txt").write_text("b")
    assert (tmp_path / "a.png").read_bytes() == b"png" and (tmp_path / "folder" / "b.txt").read_text() == "b"


def test_a_long_names_temp_file_is_cut_between_characters() -> None:
    """Cut at 100 bytes inside a 3-byte character, the temp name was no valid UTF-8, which exFAT refuses: a photo
    named in Japanese failed "Invalid or incomplete multibyte or wide character"."""
    from data_tools.temp_files import temp_prefix

    for name in ("写真" * 20 + ".png", "b" + "é" * 60 + ".onnx", "a" * 300):
        prefix = temp_prefix(name)
        assert prefix.encode("utf-8") and len(prefix.encode("utf-8")) <= 100 + 2 + 12, prefix
        assert name.startswith(prefix[1:prefix.rindex(".", 0, len(prefix) - 1)])


def _synced_after_moves(monkeypatch) -> list[tuple[str, str]]:  # noqa: ANN001
    """Renames and fsyncs in the order they happen, each fsync named by what it flushed (a file or a folder)."""
    import stat

    from data_tools import atomic_files

    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd: int) -> None:  # a folder is named by its inode: the right one must be synced
        info = os.fstat(fd)
        events.append(("fsync", f"folder {info.st_ino}" if stat.S_ISDIR(info.st_mode) else "file"))
        real_fsync(fd)

    def moving(real):  # noqa: ANN001, ANN202
        return lambda src, dst: (events.append(("move", Path(dst).name)), real(src, dst))[1]

    monkeypatch.setattr(atomic_files.os, "fsync", fsync)
    monkeypatch.setattr(atomic_files.os, "replace", moving(real_replace))
    monkeypatch.setattr(atomic_files.os, "rename", moving(real_rename))
    return events


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_written_files_rename_is_flushed_to_disk(tmp_path: Path, monkeypatch, overwrite: bool) -> None:  # noqa: ANN001
    """The file's fsync does not cover the rename that puts it in place: after a power cut its folder could name
    the old file, or none (a checkpoint saved, then the one before it pruned)."""
    from data_tools.atomic_files import atomic_write_bytes

    events = _synced_after_moves(monkeypatch)
    real_link = os.link  # without overwrite the file is linked into place
    monkeypatch.setattr("data_tools.atomic_files.os.link", lambda src, dst: (events.append(("move", Path(dst).name)),
                                                                             real_link(src, dst))[1])
    atomic_write_bytes(tmp_path / "ckpt.pt", b"weights", overwrite=overwrite)
    assert events[0] == ("fsync", "file") and events[1] == ("move", "ckpt.pt")
    assert events[-1] == ("fsync", f"folder {tmp_path.stat().st_ino}")


@pytest.mark.parametrize("exists", [True, False])
def test_a_folder_built_aside_is_flushed_once_moved_in(tmp_path: Path, monkeypatch, exists: bool) -> None:  # noqa: ANN001
    from data_tools.atomic_files import atomic_write_text, built_aside

    out = tmp_path / "model"
    if exists:
        out.mkdir()
    events = _synced_after_moves(monkeypatch)
    with built_aside(out) as folder:
        atomic_write_text(folder / "config.json", "{}")
    # the folder whose entries the last move changed: the one moved into, or (a new folder) the one it was made in
    assert events[-2][0] == "move" and events[-1] == ("fsync", f"folder {(out if exists else tmp_path).stat().st_ino}")
    assert (out / "config.json").read_text() == "{}"


@pytest.mark.slow  # a real process under a file-size limit
def test_a_file_size_limit_is_no_room_exit_1_not_a_bad_argument(tmp_path: Path) -> None:
    """`ulimit -f` (or FAT32's 4 GiB) refuses a write with EFBIG: the machine's state, as a full disk is, so exit 1
    (the README's code for a full disk), where it was exit 2, "bad arguments"."""
    import resource
    import subprocess
    import sys

    limited = subprocess.run(
        [sys.executable, "-m", "denoise_gan", "demo", "-o", tmp_path / "demo"], capture_output=True, text=True,
        timeout=300, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20 << 10, 20 << 10)))
    errors = [line for line in limited.stderr.splitlines() if line.startswith("error:")]
    assert limited.returncode == 1 and "File too large" in limited.stderr, limited.stderr
    assert "Traceback" not in limited.stderr and len(errors) <= 1


@pytest.mark.parametrize("code, fails", [(errno.EIO, True), (errno.ENOSPC, True), (errno.EINVAL, False),
                                         (errno.ENOTSUP, False)])
def test_a_failing_folder_sync_is_an_error_and_an_unsupported_one_is_not(tmp_path: Path, monkeypatch, code: int,  # noqa: ANN001
                                                                          fails: bool) -> None:
    import stat

    from data_tools import atomic_files
    from data_tools.atomic_files import OutputWriteError, atomic_write_bytes

    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(atomic_files.os, "fsync", fsync)
    if fails:
        with pytest.raises(OutputWriteError, match="cannot flush it to disk"):
            atomic_write_bytes(tmp_path / "ckpt.pt", b"weights")
    else:
        atomic_write_bytes(tmp_path / "ckpt.pt", b"weights")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # (renamed before the folder's sync)


def test_a_live_writer_in_another_pid_namespace_keeps_its_temp_files(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two containers sharing a folder: a writer's PID names no process in the other's PID namespace, and the
    other's run deleted a live export's temp folder (and would a denoise's temp file) as a dead writer's. The
    writer's claim (a lock the kernel drops with it) keeps them; a dead writer's, unclaimed, still go."""
    from data_tools import temp_files
    from data_tools.atomic_files import atomic_write_bytes, built_aside
    from data_tools.temp_files import remove_stale_parts

    monkeypatch.setattr(temp_files, "_pid_alive", lambda pid: False)  # every writer seen from another container
    seen: list[int] = []
    real_fsync = os.fsync

    def the_other_container_cleans_meanwhile(fd: int) -> None:
        seen.append(remove_stale_parts(tmp_path))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", the_other_container_cleans_meanwhile)
    atomic_write_bytes(tmp_path / "a.png", b"whole")  # its temp file survives the cleaning, and lands
    assert (tmp_path / "a.png").read_bytes() == b"whole" and seen[0] == 0
    monkeypatch.setattr(os, "fsync", real_fsync)
    for target in (tmp_path / "export", tmp_path / "a_folder"):
        (tmp_path / "a_folder").mkdir(exist_ok=True)  # a build inside an existing folder, and one beside it
        with built_aside(target) as temp:
            (temp / "model.onnx").write_bytes(b"graph")
            assert remove_stale_parts(target.parent) == 0 and remove_stale_parts(target) == 0
            assert (temp / "model.onnx").is_file()
        assert (target / "model.onnx").read_bytes() == b"graph"
    dead = tmp_path / ".b.png.99999-abcdefgh.part"
    dead.write_bytes(b"half")
    assert remove_stale_parts(tmp_path) == 1 and not dead.exists()


def test_a_file_system_that_takes_no_locks_is_said_by_the_holder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """NFS without its lock service: flock fails with ENOLCK, the run goes on (it cannot be refused by a lock that
    does not exist), and the README's "a second run is refused" silently did not hold. Said once, by the holder;
    the probes (is the folder held?) say nothing."""
    import fcntl

    from data_tools.folder_lock import held_by_another_process, holding_folder

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert not held_by_another_process(tmp_path)
    assert capsys.readouterr().err == ""
    with holding_folder(tmp_path / "run", "benchmark"):
        pass
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "run: its file system takes no lock on a folder" in err
    assert "a second benchmark started into it now would not be refused" in err
    monkeypatch.undo()
    with holding_folder(tmp_path / "run"):  # where locks work, nothing is said
        pass
    assert capsys.readouterr().err == ""
