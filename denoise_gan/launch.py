"""The `denoise-gan` console script and `python -m denoise_gan`: the CLI, started so that a Ctrl-C that lands
while it is still starting (importing its commands, building their options: the first few tenths of a second)
ends in one line, not a traceback. Once a command runs, the CLI reports an interrupt itself."""

from __future__ import annotations

import sys


def main() -> None:
    from denoise_gan.interrupts import interrupt_exit_code, watch_ctrl_c

    watch_ctrl_c()
    _closed_streams_on_devnull()
    _unencodable_text_escaped()
    try:
        from denoise_gan.cli import app

        app(prog_name="denoise-gan")
    except KeyboardInterrupt:
        _say_interrupted()
        raise SystemExit(interrupt_exit_code()) from None
    except SystemExit as exc:  # the CLI ends any interrupt with 130; a SIGTERM's is 143, a SIGHUP's 129
        if exc.code == 130:
            raise SystemExit(interrupt_exit_code()) from None
        raise


def _say_interrupted() -> None:
    """The interrupt's line, where stderr still takes it: a terminal that hung up (the SIGHUP that interrupted the
    start) refuses it with EIO, and that is no reason for a traceback and exit 1 instead of the signal's code."""
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    except OSError:
        pass


def _closed_streams_on_devnull() -> None:
    """A standard stream the shell closed (``>&-``, ``2>&-``, a daemon's start) opened on /dev/null, as if
    redirected there. Python leaves such a stream None: ``denoise 2>&-`` failed on its first progress line and
    wrote nothing, without a word, and ``evaluate >&-`` ended in a traceback before its --json; and the first file
    opened would have taken the free descriptor, where a C library's warnings to descriptor 2 land."""
    import os

    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one, 0 to 2 being taken
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))


def _unencodable_text_escaped() -> None:
    """Standard output written with ``\\u5199`` escapes for what its encoding lacks, as Python writes stderr: a
    folder's name in a results line on a terminal or a log of a legacy encoding (latin-1, Windows' cp1252 when
    redirected) raised UnicodeEncodeError after the work was done, and a finished run ended in a traceback."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


if __name__ == "__main__":  # `python -m denoise_gan.launch` runs the CLI too, rather than nothing
    main()
