"""Library output kept off the user's screen without changing what the rest of the process sees."""

from __future__ import annotations

import threading
import time
import warnings

from data_tools.library_output import quiet_warnings


def test_quiet_warnings_from_two_threads_leave_the_filters_as_they_were() -> None:
    """catch_warnings saves and restores the process's one filter list: a block entered while another was open
    saved that one's "ignore" and put it back after the other left, silencing every later warning for good."""
    before = list(warnings.filters)
    first_in, second_started = threading.Event(), threading.Event()

    def first() -> None:
        with quiet_warnings():
            first_in.set()
            second_started.wait(5)
            time.sleep(0.2)  # the second tries to enter meanwhile

    def second() -> None:
        first_in.wait(5)
        second_started.set()
        with quiet_warnings():
            time.sleep(0.3)  # leaves after the first

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert warnings.filters == before


def test_quiet_warnings_drops_its_category_only() -> None:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with quiet_warnings(RuntimeWarning):
            warnings.warn("dropped", RuntimeWarning, stacklevel=1)
            warnings.warn("kept", UserWarning, stacklevel=1)
    assert [str(w.message) for w in said] == ["kept"]


def test_no_module_changes_the_warning_filters_but_through_quiet_warnings() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in [*root.glob("data_tools/*.py"), *root.glob("denoise_gan/**/*.py")]:
        if path.name != "library_output.py":
            text = path.read_text()
            assert "catch_warnings(" not in text and "simplefilter(" not in text, path
