"""What C libraries print straight to file descriptor 2, kept off the terminal and read back; and Python
warnings a library raises about what the caller already handles, dropped without touching another thread's.

libpng, libtiff and libjpeg (through OpenCV) write warnings to stderr themselves, past Python's ``sys.stderr``:
most are about ancillary data the reader does not use, but one (libjpeg's for a file cut off mid-data) is the
only sign that part of an image was made up.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_REDIRECTING = threading.RLock()  # held while fd 2 is redirected (re-entrant: a nested use in one thread is fine)
_FILTERING = threading.RLock()  # held while the warning filters hold our "ignore"; taken before _REDIRECTING


@contextmanager
def quiet_warnings(category: type[Warning] = Warning) -> Iterator[None]:
    """Drop the Python warnings of ``category`` raised inside (Pillow's about a damaged EXIF block, skimage's
    about an empty slice): the caller checks the result, and a warning is no user's line.

    ``warnings.catch_warnings`` saves and restores the process's one filter list, so two threads' blocks that
    overlapped left an "ignore" at its front for good: every later warning of a host process silenced. One block
    at a time keeps the list as it was; warnings other threads raise meanwhile are dropped too."""
    with _FILTERING, warnings.catch_warnings():
        warnings.simplefilter("ignore", category)
        yield


@contextmanager
def quiet_stderr() -> Iterator[Callable[[], str]]:
    """Silence what C libraries (libpng, libtiff, libjpeg through OpenCV) print straight to file descriptor 2:
    their warnings are about ancillary data we do not use, and a failure is reported by the return value. What
    they printed is kept: the context yields a function that returns it (libjpeg's only sign of a cut-off
    file is such a warning).

    File descriptor 2 is the whole process's: one thread at a time holds it redirected (``synth`` encodes on a
    writer thread while it decodes the next image), or one thread's restore would leave stderr pointing at the
    other's temp file, and each would read the other's warnings."""
    said = b""
    with _REDIRECTING:
        try:
            saved = os.dup(2)
        except OSError:
            yield lambda: ""
            return
        try:
            with tempfile.TemporaryFile() as caught:
                os.dup2(caught.fileno(), 2)
                try:
                    yield lambda: said.decode("utf-8", "replace")
                finally:
                    os.dup2(saved, 2)
                    caught.seek(0)
                    said = caught.read(4096)
        finally:
            os.close(saved)
