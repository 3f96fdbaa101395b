"""A Ctrl-C stops a graph that runs: ONNX Runtime runs a whole graph in one call, which Python's signal handlers
waited for (a whole large photo for a minute; a graph that loops, for as long as it loops)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from denoise_gan.inference.onnx_engine import OnnxBackend
from denoise_gan.nets import graph_contract as gc

LONG_LOOP = 25_000_000  # trips of an empty loop body: about 20 s on a laptop's core


def _looping_graph(path: Path, trips: int = LONG_LOOP) -> None:
    """A blind denoise-gan graph whose output is its input, passed through a loop of ``trips`` trips."""
    onnx = pytest.importorskip("onnx")
    helper, tensor, value = onnx.helper, onnx.TensorProto, onnx.helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Identity", ["x"], ["x_out"])], "body",
        [value("i", tensor.INT64, []), value("cond", tensor.BOOL, []), value("x", tensor.FLOAT, None)],
        [value("cond_out", tensor.BOOL, []), value("x_out", tensor.FLOAT, None)])
    count = onnx.numpy_helper.from_array(np.array(trips, np.int64), "trips")
    graph = helper.make_graph([helper.make_node("Loop", ["trips", "", gc.IMAGE], [gc.OUTPUT], body=body)], "g",
                              [value(gc.IMAGE, tensor.FLOAT, ["n", 3, "h", "w"])],
                              [value(gc.OUTPUT, tensor.FLOAT, ["n", 3, "h", "w"])], initializer=[count])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {gc.FORMAT_KEY: gc.GRAPH_FORMAT, gc.CONFIG_KEY: json.dumps({"arch": "unet"}),
                                   gc.LEVEL_AWARE_KEY: "false", gc.STRIDE_KEY: "1", gc.CHANNELS_KEY: "3"})
    path.write_bytes(model.SerializeToString())


def test_a_ctrl_c_stops_a_graph_while_it_runs(tmp_path: Path) -> None:
    _looping_graph(tmp_path / "loop.onnx")
    backend = OnnxBackend(tmp_path / "loop.onnx")
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            backend.run(np.zeros((1, 3, 4, 4), np.float32), 1.0, None)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, before)
    assert time.monotonic() - start < 5  # not the loop's end


def test_a_graph_that_ends_gives_its_output_and_its_errors_as_before(tmp_path: Path) -> None:
    from denoise_gan.inference.onnx_engine import run_session

    _looping_graph(tmp_path / "short.onnx", trips=3)
    backend = OnnxBackend(tmp_path / "short.onnx")
    batch = np.random.default_rng(0).random((2, 3, 5, 7), dtype=np.float32)
    np.testing.assert_array_equal(backend.run(batch, 1.0, None), batch)
    with pytest.raises(Exception, match="wrong"):  # ONNX Runtime's own error, raised in the caller's thread
        run_session(backend.session, [gc.OUTPUT], {"wrong": batch})


def test_a_process_whose_graph_was_stopped_ends_cleanly(tmp_path: Path) -> None:
    """The stopped run has ended when the interrupt is raised: a process that exits then is not aborted by ONNX
    Runtime's threads still at work (Python 3.11's ``Thread.join``, interrupted, marks a running thread ended)."""
    _looping_graph(tmp_path / "loop.onnx")
    script = ("import os, signal, sys, threading, numpy as np\n"
              "from denoise_gan.inference.onnx_engine import OnnxBackend\n"
              "backend = OnnxBackend(sys.argv[1])\n"
              "threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
              "try:\n    backend.run(np.zeros((1, 3, 4, 4), np.float32), 1.0, None)\n"
              "except KeyboardInterrupt:\n    print('interrupted')\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "loop.onnx")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert (done.returncode, done.stdout, done.stderr) == (0, "interrupted\n", "")
