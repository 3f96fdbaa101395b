"""A noise source of the user's own (any object with apply(image, seed)) through synth, a saved pipeline and
benchmark: recorded by what it says of itself, never by a memory address, and never parsed as a spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import pytest

from data_tools.atomic_files import OutputWriteError
from data_tools.errors import DataError
from data_tools.noise_source import is_spec_record, noise_text
from data_tools.noise_transform import SyntheticNoise
from data_tools.samples import write_samples
from data_tools.synth import synth
from denoise_gan.errors import UserError
from denoise_gan.evaluation.benchmark.inputs import BenchmarkConfig, plan


class Unnamed:
    """Gaussian noise whose parameters are set in code and said nowhere."""

    def __init__(self, sigma: float = 10.0) -> None:
        self.sigma = sigma

    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        rng = np.random.default_rng(seed)
        noisy = np.clip(image + rng.normal(0.0, self.sigma, image.shape), 0, 255).round().astype(image.dtype)
        return noisy, [{"model": "mine", "sigma": self.sigma}]


class Named(Unnamed):
    def __str__(self) -> str:
        return f"mine:sigma={self.sigma:g}"


class Described(Named):
    """A source that writes its own manifest record, without a kind."""

    def manifest(self) -> dict[str, Any]:
        return {"sigma": self.sigma}


@pytest.fixture()
def clean(tmp_path: Path) -> Path:
    write_samples(tmp_path / "clean", "camera")
    return tmp_path / "clean"


def test_a_source_without_a_text_of_its_own_is_recorded_by_its_class(clean: Path, tmp_path: Path) -> None:
    manifest = json.loads(synth(clean, tmp_path / "set", Unnamed(), 1, crop=48).manifest.read_text())
    assert manifest["noise"] == f"custom:{__name__}.Unnamed"  # no " at 0x7f...", which differs every process
    assert manifest["noise_source"] == {"kind": "custom", "class": f"{__name__}.Unnamed", "named": False}
    assert not is_spec_record(manifest)


def test_a_rerun_knows_its_set_by_the_sources_text_and_refuses_one_without(clean: Path, tmp_path: Path) -> None:
    synth(clean, tmp_path / "named", Named(5), 1, crop=48)
    synth(clean, tmp_path / "named", Named(5), 1, crop=48)  # the same set: written again, no overwrite needed
    with pytest.raises(OutputWriteError, match="not empty"):
        synth(clean, tmp_path / "named", Named(9), 1, crop=48)  # other parameters, said in its text
    synth(clean, tmp_path / "unnamed", Unnamed(5), 1, crop=48)
    with pytest.raises(OutputWriteError, match="not empty"):  # its parameters are recorded nowhere
        synth(clean, tmp_path / "unnamed", Unnamed(9), 1, crop=48)


def test_an_unfinished_set_from_a_source_that_says_nothing_is_not_to_be_finished_by_a_rerun(
        clean: Path, tmp_path: Path) -> None:
    """Its refusals said to rerun the command that made it, which a rerun of it then refused as another set."""
    write_samples(clean, "coins")

    def ctrl_c_after_one(done: int, total: int, name: str) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synth(clean, tmp_path / "set", Unnamed(5), 1, crop=48, progress=ctrl_c_after_one)
    with pytest.raises(OutputWriteError, match="a class of your own that says nothing of itself.*; pass --overwrite") \
            as refused:
        synth(clean, tmp_path / "set", Unnamed(5), 1, crop=48)
    assert "run the command that made" not in str(refused.value)
    with pytest.raises(UserError, match="an incomplete set .*; its noise source says nothing of itself, so no run "
                                        "can finish it: make it again with overwrite"):
        plan(BenchmarkConfig(methods=("noisy",), noisy_sets=(tmp_path / "set",)), tmp_path / "bench")
    assert synth(clean, tmp_path / "set", Unnamed(5), 1, crop=48, overwrite=True).ok


def test_a_set_from_a_source_of_ones_own_is_benchmarked_blind_or_at_its_residuals_std(clean: Path,
                                                                                     tmp_path: Path) -> None:
    for name, source in (("named", Named(5)), ("unnamed", Unnamed(5)), ("described", Described(5))):
        synth(clean, tmp_path / name, source, 1, crop=48)
        chosen = plan(BenchmarkConfig(methods=("noisy",), noisy_sets=(tmp_path / name,)), tmp_path / f"{name}_out")
        assert [s.spec for s in chosen.sources] == [None]  # its text is not a spec: it was parsed as one
        oracle = plan(BenchmarkConfig(methods=("noisy",), noisy_sets=(tmp_path / name,), oracle_sigma=True),
                      tmp_path / f"{name}_out")
        assert [s.stages for s in oracle.sources] == [({"model": "mine", "sigma": 5},)]  # what run() reads σ from


def test_a_saved_pipeline_names_the_source_and_loading_it_says_to_pass_the_object(tmp_path: Path) -> None:
    assert noise_text(Named(3)) == "mine:sigma=3"
    pipeline = A.Compose([SyntheticNoise(Unnamed())])
    A.save(pipeline, str(tmp_path / "pipe.json"))
    assert f"custom:{__name__}.Unnamed" in (tmp_path / "pipe.json").read_text()
    with pytest.raises(DataError, match="pass the object itself"):
        A.load(str(tmp_path / "pipe.json"))


class EightBit(Named):
    """Forgets the 16-bit case."""

    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        return (image // 257).astype(np.uint8) if image.dtype == np.uint16 else image, []


class Cropped(Named):
    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        return image[:10, :10], []


class Floating(Named):
    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        return image.astype(np.float32) + 5, []


class BadStages(Named):
    def apply(self, image: np.ndarray, seed: int) -> Any:
        return image, "gaussian"


class NotJson(Named):
    def apply(self, image: np.ndarray, seed: int) -> Any:
        return image, [{"sigma": np.float32(3)}]


class Bare(Named):
    def apply(self, image: np.ndarray, seed: int) -> Any:
        return image


@pytest.mark.parametrize("source, said", [
    (EightBit(), "returned uint8 (48, 48, 1) for a uint16 (48, 48, 1) image; it must keep the image's shape and dtype"),
    (Cropped(), "returned uint16 (10, 10, 1) for a uint16 (48, 48, 1) image"),
    (Floating(), "returned float32 (48, 48, 1) for a uint16 (48, 48, 1) image"),
    (BadStages(), "returned stages as str, not a list of dicts"),
    (NotJson(), "returned stages a manifest cannot record"),
    (Bare(), "returned ndarray, not (noisy image, list of stage dicts)"),
])
def test_what_a_source_of_ones_own_returns_is_held_to_its_image(tmp_path: Path, source: Named, said: str) -> None:
    """An 8-bit noisy twin of a 16-bit photo, or a crop, was written as its pair (the manifest still said uint16
    and the set complete); a float one was PIL's TypeError, leaving a half-made folder."""
    from data_tools.images import write_image

    write_image(tmp_path / "clean" / "deep.png", (np.arange(48 * 48).reshape(48, 48) * 28).astype(np.uint16))
    summary = synth(tmp_path / "clean", tmp_path / "set", source, 1)
    assert summary.written == 0 and len(summary.failures) == 1, summary.failures
    assert summary.failures[0][1].startswith(f"the noise source mine:sigma=10 {said}"), summary.failures
    assert not (tmp_path / "set").exists()  # every source failed: no folder is left


@pytest.mark.parametrize("source", [EightBit(), Cropped(), Floating()])
def test_the_albumentations_transform_holds_a_source_to_its_image_as_synth_does(source: Named) -> None:
    """A source's float, 8-bit or cropped result went on down an augmentation pipeline without a word, where synth
    refuses it (the README says a source of one's own works in either place)."""
    from data_tools.noise_transform import SyntheticNoise

    with pytest.raises(ValueError, match="the noise source mine:sigma=10 returned .* it must keep the image's shape"):
        SyntheticNoise(source)(image=(np.arange(48 * 48).reshape(48, 48, 1) * 28).astype(np.uint16))


class NotANumber(Named):
    def apply(self, image: np.ndarray, seed: int) -> Any:
        return image, [{"sigma": float("nan")}]


def test_a_source_whose_stages_hold_nan_is_refused_before_its_manifest(tmp_path: Path) -> None:
    """`NaN` is no JSON for jq or a browser, and benchmark's oracle level would read it: refused as a stage a
    manifest cannot record."""
    from data_tools.images import write_image

    write_image(tmp_path / "clean" / "a.png", np.zeros((16, 16, 3), np.uint8))
    summary = synth(tmp_path / "clean", tmp_path / "set", NotANumber(), 1)
    assert summary.written == 0 and "returned stages a manifest cannot record" in summary.failures[0][1]
    assert not (tmp_path / "set").exists()
