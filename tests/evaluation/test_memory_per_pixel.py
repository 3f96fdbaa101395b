"""benchmarks/memory_per_pixel.py: its test photos have the size asked for, and a command's peak memory is its own
process's, read where it ends."""

from __future__ import annotations

import gc
import warnings

import pytest

from helpers import benchmark_script


@pytest.fixture(scope="module")
def script():
    return benchmark_script("memory_per_pixel")


def test_the_test_photo_has_the_megapixels_asked_for_in_3_to_2(script) -> None:
    image = script.make_image(0.06, seed=0)
    height, width = image.shape[:2]
    assert abs(width * height - 60_000) < 600 and abs(width / height - 1.5) < 0.01 and image.std() > 10


def test_a_commands_peak_is_measured_and_a_failure_is_said(script) -> None:
    assert 10 < script.peak_rss_mib(["--version"]) < 4000  # a Python process with the CLI loaded
    with pytest.raises(SystemExit, match="failed: error: .*no/such/folder"):
        script.peak_rss_mib(["evaluate", "--clean", "/no/such/folder", "--pred", "/no/such/folder"])


def test_a_command_whose_file_failed_is_no_peak(script, tmp_path) -> None:
    """Exit 1 (a file failed, out of memory among the reasons) was taken as a measured peak."""
    from data_tools.images import write_image

    write_image(tmp_path / "clean" / "a.png", script.make_image(0.01, seed=0))
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "a.png").write_bytes(b"not a png")
    with pytest.raises(SystemExit, match="failed: error:"):
        script.peak_rss_mib(["evaluate", "--clean", tmp_path / "clean", "--pred", tmp_path / "pred"])


def test_the_measured_process_is_reaped_as_subprocess_sees_it(script) -> None:
    """Reaped by ``os.wait4`` behind Popen's back, the child was "still running" to it: a ResourceWarning when the
    Popen went, and a later ``waitpid`` on a number the system may have given another child by then."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        script.peak_rss_mib(["--version"])
        gc.collect()
    assert not [w for w in caught if "still running" in str(w.message)]
