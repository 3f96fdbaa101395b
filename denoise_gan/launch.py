"""The `denoise-gan` console script and `python -m denoise_gan`: the CLI, started so that a Ctrl-C that lands
while it is still starting (importing its commands, building their options: the first few tenths of a second)
ends in one line, not a traceback. Once a command runs, the CLI reports an interrupt itself."""

from __future__ import annotations

import sys


def main() -> None:
    from denoise_gan.interrupts import interrupt_exit_code, watch_ctrl_c

    watch_ctrl_c()
    _unencodable_text_escaped()
    try:
        from denoise_gan.cli import app

        app(prog_name="denoise-gan")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(interrupt_exit_code()) from None
    except SystemExit as exc:  # the CLI ends any interrupt with 130; a SIGTERM's is 143
        if exc.code == 130:
            raise SystemExit(interrupt_exit_code()) from None
        raise


def _unencodable_text_escaped() -> None:
    """Standard output written with ``\\u5199`` escapes for what its encoding lacks, as Python writes stderr: a
    folder's name in a results line on a terminal or a log of a legacy encoding (latin-1, Windows' cp1252 when
    redirected) raised UnicodeEncodeError after the work was done, and a finished run ended in a traceback."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


if __name__ == "__main__":  # `python -m denoise_gan.launch` runs the CLI too, rather than nothing
    main()
