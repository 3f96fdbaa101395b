"""The ONNX Runtime backend of the tiling engine: the light way to denoise on the CPU, no torch needed.

The graph is one that ``denoise-gan export`` (or training) wrote: its metadata says what it takes (see
``nets.graph_contract``), so a level-aware model's ``strength``/``sigma`` work here exactly as on torch.
A graph never runs Python code, so loading one is as safe as loading safetensors.
"""

from __future__ import annotations

import base64
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from denoise_gan.config_json import json_object
from denoise_gan.errors import UserError, WeightsError, first_line, is_out_of_memory
from denoise_gan.extras import export_note, require
from denoise_gan.inference.backend import CPU_TILE, MIN_TILE, OutOfMemory
from denoise_gan.inference.pixels import FLOAT_SPAN
from denoise_gan.nets import graph_contract as gc
from denoise_gan.nets.generator_names import INSTANCE_NORM_ARCHS, LEVEL_MAX, LEVEL_MAX_BOUNDS, NOISE_MODEL_ARCHS
from denoise_gan.nets.graph_digest import content_digest, has_external_data
from denoise_gan.runtime import check_device_name, cuda_may_be_present, no_gpu_text


class GraphInfo:
    """What a denoise-gan ONNX graph's metadata says about it."""

    def __init__(self, path: Path, props: dict[str, str]) -> None:
        if props.get(gc.FORMAT_KEY) != gc.GRAPH_FORMAT:
            raise WeightsError(f"{path}: not a denoise-gan ONNX graph (format {props.get(gc.FORMAT_KEY)!r}, "
                               f"expected {gc.GRAPH_FORMAT!r}); {_reexport()}")
        try:
            self.config: dict[str, Any] = json_object(props[gc.CONFIG_KEY])
            self.meta: dict[str, Any] = json_object(props.get(gc.META_KEY, "{}"))
            self.level_aware = props[gc.LEVEL_AWARE_KEY] == "true"
            self.stride = int(props[gc.STRIDE_KEY])
            self.min_tile = int(props.get(gc.MIN_TILE_KEY, MIN_TILE))
            self.channels = int(props[gc.CHANNELS_KEY])
            # a level-aware graph without the key is from before the map was capped: taken as the default's cap
            self.predates_level_max = self.level_aware and gc.LEVEL_MAX_KEY not in props
            self.level_max = float(props.get(gc.LEVEL_MAX_KEY, LEVEL_MAX))
            if not isinstance(self.config.get("arch", ""), str):
                raise TypeError(f"its config's arch is {type(self.config['arch']).__name__}, not a name")
        except (KeyError, ValueError, TypeError) as exc:
            raise WeightsError(f"{path}: bad denoise-gan graph metadata ({type(exc).__name__}: {exc})") from None
        if not (1 <= self.stride <= 1024 and 1 <= self.channels <= 4 and 1 <= self.min_tile <= 4096
                and LEVEL_MAX_BOUNDS[0] <= self.level_max <= LEVEL_MAX_BOUNDS[1]):
            raise WeightsError(f"{path}: implausible graph metadata (stride {self.stride}, channels "
                               f"{self.channels}, min_tile {self.min_tile}, level_max {self.level_max:g})")
        if self.config.get("arch") in NOISE_MODEL_ARCHS:
            raise WeightsError(f"{path}: is a noise model ({self.config.get('arch')}), not a denoiser")
        self.source_sha256 = props.get(gc.SOURCE_KEY, "")
        self.source_digest = props.get(gc.SOURCE_DIGEST_KEY, "")
        # a level-aware graph without the key is from before the blind map was profiled by brightness
        self.predates_level_profile = self.level_aware and props.get(gc.LEVEL_MAP_KEY, "") != gc.LEVEL_MAP
        # one without its estimator graph is from before a photo's tiles shared one profile: each tile its own
        self.photo_profile = self.level_aware and gc.ESTIMATOR_KEY in props
        self.predates_photo_profile = self.level_aware and not self.photo_profile


def _reexport(tail: str = "") -> str:
    """The one hint for a graph to make again, and that export needs torch where it is missing."""
    return f"re-export it with `denoise-gan export`{tail}{export_note()}"


def providers_for(device: str, ort: Any, torch_way: str = "use --engine torch") -> list[str]:
    """ONNX Runtime's execution providers for --device: the CPU's, or CUDA's where that build has it. Without
    it, the advice is what works here: no GPU at all is said as such (torch would refuse it too), and
    ``torch_way`` says how torch would run the model (a graph alone needs its weights)."""
    if check_device_name(device) in ("auto", "cpu"):
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        if not cuda_may_be_present():
            raise UserError(no_gpu_text(device))
        raise UserError(f"this onnxruntime has no CUDA provider (install onnxruntime-gpu), or {torch_way} for CUDA")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


_GPU_ADVICE = "run on the CPU, or use --engine torch for CUDA"  # where ONNX Runtime's GPU provider fails


def open_session(model: str | bytes, providers: list[str], threads: int = 0) -> Any:
    """An ONNX Runtime session for a graph file or an in-memory graph (the noise model's), with every graph
    optimisation. Its own log stays quiet: its warnings (unused initialisers) and error logs (an allocation that
    failed) are not the user's business; an error reaches them as the exception, in one line."""
    ort = require("onnxruntime", "the ONNX Runtime engine")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    options.log_severity_level = 4
    try:  # no fallback: on a failure ONNX Runtime printed a four-line banner on stdout and retried on the CPU
        session = ort.InferenceSession(model, options, providers=providers, enable_fallback=0)
    except Exception as exc:  # (ONNX Runtime's own error types derive from Exception alone)
        # the provider's failure, as ONNX Runtime's fallback took it; a graph it cannot load (InvalidProtobuf,
        # NoSuchFile, ...) is the graph's, as on the CPU
        if providers[0] == "CPUExecutionProvider" or not (isinstance(exc, ValueError | RuntimeError)
                                                          or type(exc).__name__ == "EPFail"):
            raise
        raise UserError(f"ONNX Runtime cannot use {providers[0]} here ({first_line(exc)}); {_GPU_ADVICE}") from None
    if providers[0] not in session.get_providers():  # CUDA's libraries missing: it runs on the CPU without a word
        raise UserError(f"ONNX Runtime cannot use {providers[0]} here; {_GPU_ADVICE}")
    return session


def run_session(session: Any, outputs: list[str] | None, feed: dict[str, Any]) -> list[Any]:
    """``session.run`` in a thread of its own, so that a Ctrl-C, SIGTERM or SIGHUP stops the graph: ONNX Runtime runs a
    whole graph in one call, and Python's signal handlers wait for it to return (a minute for a whole large photo,
    for ever for a graph that loops). The caller waits, takes the interrupt, and ONNX Runtime stops at its next
    node."""
    ort = require("onnxruntime", "the ONNX Runtime engine")
    options = ort.RunOptions()
    options.log_severity_level = 4  # the stop's own error log is not the user's business, as the session's
    result: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            result["out"] = session.run(outputs, feed, options)
        except BaseException as exc:  # given to the caller's thread, where it is handled
            result["exc"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="onnxruntime-run", daemon=True).start()
    try:  # an Event, not join(): Python 3.11's join() interrupted marks a thread still running as ended
        done.wait()
    except BaseException:  # the interrupt: the graph stops between two nodes, and the run is not used
        options.terminate = True
        done.wait()
        raise
    if "exc" in result:
        raise result["exc"]
    return result["out"]


def graph_metadata(session: Any, path: Path) -> dict[str, str]:
    """The graph's metadata as text; bytes that are not UTF-8 there (a damaged file) are a one-line error."""
    try:
        return dict(session.get_modelmeta().custom_metadata_map)
    except UnicodeDecodeError:
        raise WeightsError(f"{path}: not a loadable ONNX graph (its metadata is not UTF-8 text: a damaged "
                           "file?)") from None


def _utf8(path: Path) -> bool:
    """Whether ONNX Runtime can take the path as a name (it takes only UTF-8 ones)."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class OnnxBackend:
    """An exported denoise-gan graph in an ONNX Runtime session: NCHW float32 [0, 1] batches in and out."""

    name = "onnxruntime"

    def __init__(self, path: Path | str, device: str = "auto", threads: int = 0,
                 torch_way: str = "use --engine torch") -> None:
        self.path, self._threads = Path(path), threads
        self._file = self.path.absolute()  # a copy reopens it from another working directory (a pool's worker)
        self.providers = providers_for(device, require("onnxruntime", "the ONNX Runtime engine"), torch_way)
        self.session = self._open()
        self._props = graph_metadata(self.session, self.path)
        self.info = GraphInfo(self.path, self._props)
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        expected = {gc.IMAGE, gc.STRENGTH, gc.SIGMA} if self.info.level_aware else {gc.IMAGE}
        if set(inputs) != expected:
            raise WeightsError(f"{self.path}: graph inputs {sorted(inputs)} do not match its metadata "
                               f"(expected {sorted(expected)})")
        overridable = {i.name for i in self.session.get_overridable_initializers()}
        if self.info.photo_profile and gc.LEVEL_PROFILE not in overridable:
            raise WeightsError(f"{self.path}: the graph carries an estimator graph but takes no {gc.LEVEL_PROFILE}; "
                               + _reexport())
        shape = inputs[gc.IMAGE]  # its channels are fixed in the graph (the other sides are named, dynamic)
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != self.info.channels):
            raise WeightsError(f"{self.path}: the graph takes images of shape {shape}, but its metadata says "
                               f"{self.info.channels} channel(s)")
        fixed = [f"{side} {size}" for side, size in zip(("batch", "height", "width"), (shape[0], *shape[2:]))
                 if isinstance(size, int)]
        if fixed:  # a tile of another size would fail in every file, in onnxruntime's words
            raise WeightsError(f"{self.path}: the graph fixes its image's {', '.join(fixed)}; a denoise-gan graph "
                               f"takes any size ({_reexport()})")
        outputs = [o.name for o in self.session.get_outputs()]
        if gc.OUTPUT not in outputs:
            raise WeightsError(f"{self.path}: the graph has no output named {gc.OUTPUT!r} (it has "
                               f"{', '.join(map(repr, outputs))}); {_reexport()}")
        self.channels = self.info.channels
        # the graph keeps the network's InstanceNorm: the tiler pads a tiny image for it as for torch
        self.instance_norm = self.info.config.get("arch") in INSTANCE_NORM_ARCHS
        self.stride = self.info.stride
        self.level_aware = self.info.level_aware
        self.min_tile = self.info.min_tile
        self.level_max = self.info.level_max
        self.photo_profile = self.info.photo_profile
        self.cells_session = self._open_estimator()
        self.notes: list[str] = []
        self._check_content()
        if not self.content_checked:
            self.notes.append(f"{self.path.name} {gc.UNCHECKED_GRAPH}; " + _reexport(" for one that can be"))
        if self.info.predates_level_profile:
            self.notes.append(f"{self.path.name} {gc.PREDATES_LEVEL_PROFILE}: it denoises with the estimator's raw "
                              "map; " + _reexport(" for today's"))
        elif self.info.predates_photo_profile:
            self.notes.append(f"{self.path.name} {gc.PREDATES_PHOTO_PROFILE}: each tile of a large photo reads its "
                              "own noise level; " + _reexport(" for today's"))
        elif self.info.predates_level_max:
            self.notes.append(f"{self.path.name} {gc.PREDATES_LEVEL_MAX}: a blind map above σ {LEVEL_MAX:g} "
                              "runs uncapped; " + _reexport(" for today's"))

    def _open(self) -> Any:
        # by name (a graph with external data needs it), but onnxruntime takes only a UTF-8 one
        return self._session(lambda: str(self._file) if _utf8(self._file) else self._file.read_bytes(),
                             "not a loadable ONNX graph")

    def _session(self, model: Callable[[], str | bytes], what: str, tail: str = "") -> Any:
        """A session of the graph ``model()`` gives: the provider's failure as it is, running out of memory while the
        session is built (std::bad_alloc: the graph is fine) a MemoryError, anything else the graph's fault, said as
        ``what`` with ONNX Runtime's reason whole (a missing external data file comes after a long preamble)."""
        try:
            return open_session(model(), self.providers, self._threads)
        except UserError:  # the provider's, not the graph's
            raise
        except Exception as exc:  # (a graph's bytes that are no base64: binascii.Error, a ValueError)
            if is_out_of_memory(exc):
                raise MemoryError(first_line(exc)) from None
            raise WeightsError(f"{self.path}: {what} ({first_line(exc, 800)}){tail}") from None

    def _open_estimator(self) -> Any:
        """The estimator's own graph, carried base64 in the metadata (None for a graph without one)."""
        if not self.photo_profile:
            return None
        session = self._session(lambda: base64.b64decode(self._props[gc.ESTIMATOR_KEY], validate=True),
                                f"its {gc.ESTIMATOR_KEY} is not a loadable graph", f"; {_reexport()}")
        names = ({i.name for i in session.get_inputs()}, [o.name for o in session.get_outputs()])
        if names != ({gc.IMAGE}, [gc.CELLS, gc.BRIGHTNESS]):
            raise WeightsError(f"{self.path}: its {gc.ESTIMATOR_KEY} takes {sorted(names[0])} and gives "
                               f"{names[1]}, not an estimator's; {_reexport()}")
        return session

    def _check_content(self) -> None:
        """The graph is the one exported: its digest of its own content holds. A graph exported before the digest
        has none, and one whose weights other tools moved to a file beside it cannot keep it: alone, both run
        unchecked (``content_checked`` False), and beside weights the engine choice runs those instead."""
        recorded = self._props.get(gc.GRAPH_DIGEST_KEY)
        self.content_checked = False  # what the engine choice asks of a graph beside weights torch could run
        if recorded is None:
            return
        try:
            data = self._file.read_bytes()
        except OSError as exc:
            raise WeightsError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        if has_external_data(data):
            return
        if content_digest(data) != recorded:
            raise WeightsError(f"{self.path}: the graph is not the one exported (its content does not match the "
                               f"digest it records: a damaged or altered file); {_reexport()}")
        self.content_checked = True

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (a ``multiprocessing`` pool, ``copy.deepcopy``): the session is opened again from the graph
        file, which must still be the same graph."""
        state = dict(self.__dict__)
        state.pop("session", None)
        state.pop("cells_session", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if not self._file.is_file():  # onnxruntime would call it "not a loadable ONNX graph"
            raise WeightsError(f"{self.path}: the graph file this model was loaded from is gone (a copy reopens it); "
                               "load the model again from where it is now")
        self.session = self._open()
        if graph_metadata(self.session, self.path) != self._props:
            raise WeightsError(f"{self.path}: the graph file changed since this model was loaded; load it again")
        self.cells_session = self._open_estimator()
        self._check_content()

    def _session_run(self, session: Any, outputs: list[str], feed: dict[str, Any], shape: tuple[int, ...]) -> list[Any]:
        try:
            return run_session(session, outputs, feed)
        except Exception as exc:
            if is_out_of_memory(exc, cuda=True):
                raise OutOfMemory from None
            if type(exc).__name__ == "EPFail":  # the GPU's provider failed, not the graph (no fallback to retry)
                raise UserError(f"ONNX Runtime's {self.providers[0]} failed ({first_line(exc)}); "
                                f"{_GPU_ADVICE}") from None
            raise WeightsError(f"{self.path}: the graph failed on a batch of shape {shape} "
                               f"({first_line(exc)})") from None

    @property
    def where(self) -> str:
        device = "cuda" if self.providers[0].startswith("CUDA") else "cpu"
        return f"{device} (onnxruntime, fp32)"

    def auto_tile(self, batch_size: int) -> int:
        del batch_size
        return CPU_TILE

    def cells(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The estimator's cells and the brightness over each, for a photo's profile (``photo_profile`` only)."""
        cells, brightness = self._session_run(self.cells_session, [gc.CELLS, gc.BRIGHTNESS],
                                              {gc.IMAGE: np.ascontiguousarray(batch, dtype=np.float32)}, batch.shape)
        shapes = [getattr(x, "shape", ()) for x in (cells, brightness)]
        if shapes[0] != shapes[1] or len(shapes[0]) != 4 or shapes[0][:2] != batch.shape[:2]:
            raise WeightsError(f"{self.path}: its {gc.ESTIMATOR_KEY} returned cells of shape {shapes[0]} and "
                               f"brightness of shape {shapes[1]} for a batch of shape {batch.shape}; {_reexport()}")
        return np.asarray(cells, np.float32), np.asarray(brightness, np.float32)

    def run(self, batch: np.ndarray, strength: float, sigma: float | None,
            profile: np.ndarray | None = None) -> np.ndarray:
        feed = {gc.IMAGE: np.ascontiguousarray(batch, dtype=np.float32)}
        if self.level_aware:
            if self.info.predates_level_max and sigma is not None and sigma * strength > self.level_max:
                sigma = self.level_max / strength  # a fixed level is capped here as today's graph caps it inside
            feed[gc.STRENGTH] = np.array([strength], np.float32)
            feed[gc.SIGMA] = np.array([gc.ESTIMATE if sigma is None else sigma], np.float32)
        if self.photo_profile and profile is not None:  # (left out, its default profiles each image on its own)
            feed[gc.LEVEL_PROFILE] = np.ascontiguousarray(profile, dtype=np.float32)
        (out,) = self._session_run(self.session, [gc.OUTPUT], feed, batch.shape)
        if not isinstance(out, np.ndarray) or out.shape != batch.shape or not np.issubdtype(out.dtype, np.floating):
            # a foreign graph's output of another shape was broadcast into a garbage image, or cropped, exit 0
            raise WeightsError(f"{self.path}: the graph returned {getattr(out, 'dtype', type(out).__name__)} of shape "
                               f"{getattr(out, 'shape', '?')} for a batch of shape {batch.shape}; a denoiser's "
                               "output is float32 of its input's shape")
        low, high = float(out.min()), float(out.max())  # a NaN makes both NaN, an Inf is an end: no pass of its own
        if not (math.isfinite(low) and math.isfinite(high)):
            raise UserError("the model produced NaN/Inf values (broken or incompatible graph)")
        if low < FLOAT_SPAN[0] or high > FLOAT_SPAN[1]:  # another scale (0-255, -1..1): clipped, a black or white
            # image written without a word; the exported graph clips its output to [0, 1]
            raise WeightsError(f"{self.path}: the graph returned values from {low:g} to {high:g}; a denoiser's output "
                               "is in [0, 1]")
        return out
