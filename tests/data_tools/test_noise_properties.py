"""Properties (hypothesis) of the noise models and the spec grammar.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from data_tools.noise import MODELS, parse_noise_spec
from helpers import PROPERTY, images

torch.set_num_threads(1)  # the suite shares two cores with a training job


@st.composite
def noise_specs(draw: st.DrawFn) -> str:
    """Any valid spec text: 1-2 alternatives of 1-3 stages, every model, fixed values and lo-hi ranges,
    defaults left out or given, any float inside each parameter's limits (whole numbers for JPEG quality,
    an encoder setting)."""
    def number(lo: float, hi: float) -> float:
        return draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False)) + 0.0

    def stage() -> str:
        model = MODELS[draw(st.sampled_from(sorted(MODELS)))]
        parts = []
        for param in model.params:
            if param in model.defaults and draw(st.booleans()):
                continue
            values = sorted(number(*model.limits[param]) for _ in range(draw(st.sampled_from([1, 2]))))
            if param == "quality":
                values = [float(round(v)) for v in values]
            lo, hi = values[0], values[-1]
            text = lambda v: np.format_float_positional(v, trim="-")  # no exponent: its '-' would split a range
            parts.append(f"{param}={text(lo)}" if lo == hi else f"{param}={text(lo)}-{text(hi)}")
        return f"{model.name}:" + ",".join(parts)

    chains = ["+".join(stage() for _ in range(draw(st.integers(1, 3)))) for _ in range(draw(st.integers(1, 2)))]
    return " | ".join(chains)


@PROPERTY
@given(text=noise_specs(), img=images(max_side=12), seed=st.integers(0, 2**63 - 1))
def test_noise_models_keep_shape_dtype_and_alpha_and_are_deterministic_per_seed(text: str, img: np.ndarray,
                                                                                 seed: int) -> None:
    spec = parse_noise_spec(text)
    out, drawn = spec.apply(img, seed)
    assert out.shape == img.shape and out.dtype == img.dtype
    if img.ndim == 3 and img.shape[2] in (2, 4):
        np.testing.assert_array_equal(out[..., -1], img[..., -1])
    again, drawn_again = spec.apply(img.copy(), seed)
    np.testing.assert_array_equal(out, again)
    assert drawn == drawn_again


@PROPERTY
@given(text=noise_specs())
def test_a_spec_written_to_a_manifest_parses_back_to_the_same_spec(text: str) -> None:
    """`synth` stores str(spec) in its manifest and `benchmark` re-parses it: that must reproduce the noise
    exactly, so printing a spec may not round or use a notation the grammar cannot read."""
    spec = parse_noise_spec(text)
    assert parse_noise_spec(str(spec)) == spec


