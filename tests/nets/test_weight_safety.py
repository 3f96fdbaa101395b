"""Checkpoints and weight files are untrusted input: pickled code never runs, damaged or mismatched files are
one-line errors (exit 2), and hostile metadata cannot make a loader allocate what the file does not hold.
"""

from __future__ import annotations

import io
import json
import pickle
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save
from torch import nn

from data_tools.images import write_image
from denoise_gan.config import GeneratorConfig, RefineConfig
from denoise_gan.config_json import to_dict
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weights import FORMAT, WeightsError, load_checkpoint, load_generator
from helpers import TINY_G, cli, memory_ceiling, noise_image, one_line_error, tiny_train_config

torch.set_num_threads(1)  # the suite shares two cores with a training job


class RunsCode:
    """Unpickling this object creates a marker file: the proof that a loader executed code from a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def malicious_bytes(kind: str, marker: Path) -> bytes:
    """A checkpoint-shaped file whose loading would run RunsCode, in every container torch.load accepts."""
    payload = {"kind": "cyclegan", "step": 1, "config": {}, "nets": {"G": RunsCode(marker)}}
    if kind.startswith("pickle-p"):
        return pickle.dumps(payload, protocol=int(kind.removeprefix("pickle-p")))
    buf = io.BytesIO()
    torch.save(payload, buf, _use_new_zipfile_serialization=kind == "torch-zip")
    return buf.getvalue()


MALICIOUS = ["pickle-p0", "pickle-p2", "pickle-p5", "torch-zip", "torch-legacy"]


def test_the_payload_really_runs_code_when_unpickled(tmp_path: Path) -> None:
    """Guards the tests below: the payload is live, so 'marker absent' there means 'refused', not 'inert'."""
    marker = tmp_path / "ran"
    pickle.loads(malicious_bytes("pickle-p2", marker))
    assert marker.exists()


@pytest.mark.parametrize("kind", MALICIOUS)
@pytest.mark.parametrize("name", ["evil.pt", "evil.safetensors"])
def test_pickled_weights_given_to_denoise_are_refused_unrun(tmp_path: Path, kind: str, name: str) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / name
    evil.write_bytes(malicious_bytes(kind, marker))
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    result = cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "--checkpoint", evil, "--device", "cpu")
    line = one_line_error(result, str(evil))
    assert "pickle" in line or "not a valid safetensors file" in line
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("name", ["step_0000010.pt", "step_0000010.safetensors"])
def test_the_conversion_the_refusal_names_is_one_export_runs(tmp_path: Path, name: str) -> None:
    """export reads a run checkpoint by its .pt name and refuses to write over its input: the command the refusal
    gives must do neither (for a .safetensors name it was `export X -o X`, which export refuses), and run as
    pasted where its folder's name holds a space (the shell split it into other arguments)."""
    import shlex

    ckpt = tmp_path / "my run's $HOME" / name
    ckpt.parent.mkdir()
    ckpt.write_bytes(malicious_bytes("pickle-p2", tmp_path / "ran"))
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    line = one_line_error(cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "-c", ckpt), "pickle")
    command = shlex.split(line.split("`")[1])
    source, target = Path(command[command.index("export") + 1]), Path(command[command.index("-o") + 1])
    assert source.suffix == ".pt" and target.suffix == ".safetensors" and source != target
    assert source == ckpt or f"name it {source.name}" in line

@pytest.mark.parametrize("content", [b"junk\n", b""], ids=["text", "empty"])
def test_a_garbage_run_checkpoint_given_to_export_is_a_one_line_error(tmp_path: Path, content: bytes) -> None:
    """A text file failed inside the unpickler with a KeyError, an empty one with an EOFError whose message is
    empty: both were tracebacks from export (train --resume had its own catch-all)."""
    ckpt = tmp_path / "step_0000005.pt"
    ckpt.write_bytes(content)
    one_line_error(cli("export", ckpt, "-o", tmp_path / "g.onnx"), str(ckpt), "unreadable checkpoint")
    assert not (tmp_path / "g.onnx").exists()
    ckpt.write_bytes(b"garbage")  # an opcode the safe loader does not read: it said only "could run code"
    one_line_error(cli("export", ckpt, "-o", tmp_path / "g.onnx"), "refused", "a damaged or foreign file")

@pytest.mark.parametrize("state, said", [({"kind": "train", "nets": {}}, "its kind is 'train'"),
                                         ({"nets": {}}, "it records no kind")])
def test_a_checkpoint_of_another_kind_is_named_by_its_kind(tmp_path: Path, state: dict, said: str) -> None:
    """It said "no 'kind' of train or refine" to a checkpoint whose kind was right there."""
    ckpt = tmp_path / "step_0000007.pt"
    torch.save(state, ckpt)
    one_line_error(cli("export", ckpt, "-o", tmp_path / "g.onnx"), str(ckpt), said)

@pytest.mark.parametrize("kind", MALICIOUS)
def test_pickled_checkpoint_given_to_train_resume_is_refused_unrun(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step_0000001.pt").write_bytes(malicious_bytes(kind, marker))
    result = cli("train", "--resume", run)
    one_line_error(result, "step_0000001.pt", "refused")
    assert not marker.exists()


@pytest.mark.parametrize("kind", MALICIOUS)
def test_pickled_checkpoint_given_to_refine_resume_is_refused_unrun(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    (run / "refine" / "checkpoints").mkdir(parents=True)
    (run / "refine" / "checkpoints" / "step_0000001.pt").write_bytes(malicious_bytes(kind, marker))
    result = cli("refine", run, "--resume")
    one_line_error(result, "step_0000001.pt", "refused")
    assert not marker.exists()


def test_refusing_a_checkpoint_prints_nothing_but_the_error(tmp_path: Path) -> None:
    """torch warns about some pickle protocols while refusing them; the user should see one line, not three."""
    path = tmp_path / "step_0000001.pt"
    path.write_bytes(malicious_bytes("pickle-p5", tmp_path / "ran"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(WeightsError, match="refused"):
            load_checkpoint(path)
    assert [str(w.message) for w in caught] == []


def test_refine_source_weights_that_are_a_pickle_are_refused(finished_run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text((finished_run / "config.json").read_text())
    (run / "F.safetensors").write_bytes((finished_run / "F.safetensors").read_bytes())
    (run / "G.safetensors").write_bytes(malicious_bytes("torch-zip", marker))
    result = cli("refine", run, "-o", tmp_path / "out", "--generator", "same", "--steps", "2", "--batch-size", "2",
                 "--patch-size", "32", "--workers", "0", "--device", "cpu")  # fine-tuning reads the run's G
    one_line_error(result, "G.safetensors", "pickle")
    assert not marker.exists()


def _valid_train_state(clean_dir: Path) -> dict:
    return {"kind": "cyclegan", "step": 1, "config": to_dict(tiny_train_config(clean_dir))}


DAMAGED_TRAIN = {
    "no-config": lambda cfg: {"kind": "cyclegan", "step": 1},
    "config-not-a-dict": lambda cfg: {**cfg, "config": "steps=10"},
    "unknown-config-field": lambda cfg: {**cfg, "config": {**cfg["config"], "stepz": 3}},
    "config-wrong-type": lambda cfg: {**cfg, "config": {**cfg["config"], "steps": "ten"}},
    "nested-config-wrong-type": lambda cfg: {**cfg, "config": {**cfg["config"], "model": [1, 2]}},
    "no-weights": lambda cfg: cfg,
    "weights-not-tensors": lambda cfg: {**cfg, "nets": {"G": [1], "F": {}, "D_clean": {}, "D_noisy": {}}},
}


@pytest.mark.parametrize("case", sorted(DAMAGED_TRAIN))
def test_damaged_but_safe_train_checkpoint_is_a_one_line_error(clean_dir: Path, tmp_path: Path, case: str) -> None:
    """Plain tensors and dicts pass the safe unpickler; content that does not fit is still an error, not a
    traceback (a checkpoint from another version, a hand-edited one, a different run's)."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(DAMAGED_TRAIN[case](_valid_train_state(clean_dir)), run / "checkpoints" / "step_0000001.pt")
    read = case in ("no-weights", "weights-not-tensors")  # a config that reads: the run's record is looked at,
    one_line_error(cli("train", "--resume", run), str(run), warned=read)  # and its absence said (a warning)


@pytest.mark.parametrize("case", ["no-weights", "config-wrong-type", "optimizer-of-another-net"])
def test_damaged_but_safe_refine_checkpoint_is_a_one_line_error(finished_run: Path, tmp_path: Path,
                                                                case: str) -> None:
    cfg = to_dict(RefineConfig(run_dir=str(finished_run), steps=4, batch_size=2, patch_size=32, workers=0,
                               device="cpu"))
    state: dict = {"kind": "refine", "step": 1, "config": cfg}
    if case == "config-wrong-type":
        state["config"] = {**cfg, "lr": "fast"}
    if case == "optimizer-of-another-net":
        g = load_generator(finished_run / "G.safetensors")[0]
        other = torch.optim.Adam([nn.Parameter(torch.zeros(3))])
        state.update(g=g.state_dict(), opt=other.state_dict(), sched={}, rng={})
    out = tmp_path / "refined"
    (out / "checkpoints").mkdir(parents=True)
    torch.save(state, out / "checkpoints" / "step_0000001.pt")
    one_line_error(cli("refine", finished_run, "-o", out, "--resume"), str(out),
                   warned=case != "config-wrong-type")  # past the config: its missing inputs.json is said


def test_corrupt_run_config_is_a_one_line_error_for_refine(finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "G.safetensors").write_bytes((finished_run / "G.safetensors").read_bytes())
    (run / "config.json").write_text('{"model": ')  # cut short by a crash or a bad copy
    one_line_error(cli("refine", run, "-o", tmp_path / "out", "--device", "cpu"), "config.json")


def forged_generator(tensors_from: GeneratorConfig, claimed: object, seed: int = 0) -> bytes:
    """A safetensors file holding one architecture's tensors under another's (or any) claimed config."""
    torch.manual_seed(seed)
    state = {k: v.contiguous() for k, v in build_generator(tensors_from).state_dict().items()}
    config = claimed if isinstance(claimed, str) else json.dumps(claimed)
    return st_save(state, metadata={"format": FORMAT, "config": config, "meta": "{}"})


@pytest.mark.parametrize("cut", [0, 4, 8, 40, 0.5, -1])
def test_truncated_safetensors_is_a_one_line_error(weights: Path, tmp_path: Path, cut: float) -> None:
    data = weights.read_bytes()
    end = int(len(data) * cut) if isinstance(cut, float) else (len(data) + cut if cut < 0 else cut)
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:end])
    write_image(tmp_path / "a.png", noise_image(16, 16))
    line = one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", bad, "--device", "cpu"),
                          str(bad))
    assert "truncated or corrupt" in line


@pytest.mark.parametrize("tensors_from, claimed, needles", [
    # width 8 tensors, config says 16: the first tensor that differs is named with both shapes
    (replace(TINY_G, width=8), asdict(replace(TINY_G, width=16)), ["has shape (8,", "expects (16,", "width"]),
    # a 1-channel net's tensors in a file that claims 3 channels
    (replace(TINY_G, channels=1), asdict(replace(TINY_G, channels=3)), ["shape", "expects", "channels"]),
    # one U-Net level more than the tensors have: the missing tensors are named
    (TINY_G, asdict(replace(TINY_G, depth=2)), ["do not match the architecture", "missing"]),
    # the tensors of a ResNet under a U-Net config
    (replace(TINY_G, arch="resnet"), asdict(TINY_G), ["do not match the architecture", "unexpected"]),
])
def test_safetensors_for_another_architecture_names_the_mismatch(tmp_path: Path, tensors_from: GeneratorConfig,
                                                                 claimed: dict, needles: list[str]) -> None:
    bad = tmp_path / "other.safetensors"
    bad.write_bytes(forged_generator(tensors_from, claimed))
    write_image(tmp_path / "a.png", noise_image(16, 16))
    one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", bad, "--device", "cpu"),
                   str(bad), *needles)


@pytest.mark.parametrize("spoil, needles", [
    (lambda t: t.to(torch.int8), ["holds int8 values", "expects float32"]),  # was cast, and "denoised" to a copy
    (lambda t: t.bool(), ["holds bool values"]),
    (lambda t: torch.full_like(t, float("nan")), ["NaN or infinite"]),  # export wrote a graph of NaN
])
def test_weights_of_the_wrong_kind_are_refused_by_denoise_and_export(tmp_path: Path, spoil: object,
                                                                     needles: list[str]) -> None:
    state = {k: v.contiguous() for k, v in build_generator(TINY_G).state_dict().items()}
    state = {k: spoil(v) if v.is_floating_point() else v for k, v in state.items()}
    bad = tmp_path / "spoilt.safetensors"
    bad.write_bytes(st_save(state, metadata={"format": FORMAT, "config": json.dumps(asdict(TINY_G)), "meta": "{}"}))
    write_image(tmp_path / "a.png", noise_image(16, 16))
    one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out.png", "-c", bad), str(bad), *needles)
    one_line_error(cli("export", bad, "-o", tmp_path / "g.onnx"), str(bad), *needles)
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "g.onnx").exists()

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float8_e4m3fn])
def test_weights_in_any_float_type_still_load(tmp_path: Path, dtype: torch.dtype) -> None:
    """The finiteness check reads every float type (float8 has no isfinite of its own: it raised a traceback)."""
    state = {k: v.to(dtype).contiguous() for k, v in build_generator(TINY_G).state_dict().items()}
    path = tmp_path / "small.safetensors"
    path.write_bytes(st_save(state, metadata={"format": FORMAT, "config": json.dumps(asdict(TINY_G)), "meta": "{}"}))
    net = load_generator(path)[0]
    assert all(p.dtype == torch.float32 and bool(torch.isfinite(p).all()) for p in net.parameters())

def test_safetensors_without_our_metadata_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "plain.safetensors"
    bad.write_bytes(st_save({"w": torch.zeros(3)}))
    write_image(tmp_path / "a.png", noise_image(16, 16))
    one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", bad, "--device", "cpu"),
                   str(bad), "metadata")


HOSTILE_CONFIGS = {
    # each would make a naive loader allocate terabytes, loop for hours or crash with a traceback
    # (written as dicts: a GeneratorConfig refuses some of them itself, and a forged file skips that check)
    "huge-width": {**asdict(TINY_G), "width": 2**40},
    "deep": {**asdict(TINY_G), "depth": 60},
    "many-blocks": {**asdict(TINY_G), "blocks": 10**9},
    "plausible-config-but-not-what-the-file-holds": {**asdict(TINY_G), "width": 4096},  # 10 GB of weights
    "negative-width": {**asdict(TINY_G), "width": -3},
    "zero-channels": {**asdict(TINY_G), "channels": 0},
    "width-as-text": {**asdict(TINY_G), "width": "abc"},
    "width-as-float": {**asdict(TINY_G), "width": 4.5},
    "unknown-arch": asdict(replace(TINY_G, arch="evil")),
    "config-is-a-list": ["width", "depth"],
    "config-is-null": None,
    "config-not-json": "{width: 4",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_hostile_generator_metadata_is_refused_before_allocating(tmp_path: Path, case: str) -> None:
    bad = tmp_path / f"{case}.safetensors"
    bad.write_bytes(forged_generator(TINY_G, HOSTILE_CONFIGS[case]))
    start = time.perf_counter()
    # the file holds ~10 KB of tensors; 1 GB is plenty for refusing it
    with memory_ceiling(1 << 30), pytest.raises(WeightsError) as info:
        load_generator(bad)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert message.startswith(str(bad)) and "\n" not in message


def test_hostile_generator_metadata_via_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bomb.safetensors"
    bad.write_bytes(forged_generator(TINY_G, {**asdict(TINY_G), "depth": 60}))
    write_image(tmp_path / "a.png", noise_image(16, 16))
    with memory_ceiling(1 << 30):
        result = cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", bad, "--device", "cpu")
    one_line_error(result, str(bad))




def test_an_unsafe_newest_checkpoint_stops_the_resume_rather_than_being_skipped(finished_run: Path,
                                                                                tmp_path: Path) -> None:
    """A damaged newest checkpoint is skipped with a warning; one refused as unsafe is not a damaged file: the
    resume stops on it (naming it), never quietly continuing from the one before."""
    import shutil

    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    marker = tmp_path / "ran"
    newest = run / "checkpoints" / "step_9999999.pt"
    newest.write_bytes(malicious_bytes(MALICIOUS[0], marker))
    one_line_error(cli("train", "--resume", run), "step_9999999.pt", "refused")
    assert not marker.exists()


def test_a_checkpoint_whose_tensor_bytes_changed_is_refused_by_its_checksums(tmp_path: Path) -> None:
    """One flipped byte inside a tensor of a run checkpoint loaded without a word: `export step_N.pt` wrote a
    weight of 9e-22 where 0.0168 was, and a resume would have trained on from it."""
    import zipfile

    path = tmp_path / "step_0000010.pt"
    torch.save({"kind": "cyclegan", "step": 10, "G": {"w": torch.linspace(0, 1, 4096)}}, path)
    assert load_checkpoint(path)["step"] == 10
    with zipfile.ZipFile(path) as archive:
        entry = max(archive.infolist(), key=lambda info: info.file_size)
    data = bytearray(path.read_bytes())
    data[entry.header_offset + 30 + len(entry.filename) + len(entry.extra) + entry.file_size // 2] ^= 0x55
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=f"damaged checkpoint \\({entry.filename} does not match its checksum"):
        load_checkpoint(path)
    one_line_error(cli("export", path, "-o", tmp_path / "g.safetensors"), "damaged checkpoint")
    assert not (tmp_path / "g.safetensors").exists()


def test_a_checkpoint_whose_archive_is_damaged_elsewhere_is_refused_not_a_traceback(tmp_path: Path) -> None:
    """A damaged compression method in the archive's directory raised NotImplementedError from the checksum
    check, outside the loader's error handling: a resume died instead of falling back to the checkpoint before."""
    path = tmp_path / "step_0000010.pt"
    torch.save({"kind": "cyclegan", "step": 10, "G": {"w": torch.ones(64)}}, path)
    data = bytearray(path.read_bytes())
    data[data.index(b"PK\x01\x02") + 10] = 99  # the directory's compression method of one entry: none known
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="damaged checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_whose_entries_inflate_past_the_file_is_refused_before_unpacking(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5.8 MB checkpoint whose tensor entry was 6 GB of deflated zeros made export allocate 6.4 GB before its
    one-line error: torch.save stores entries uncompressed, so no entry of ours unpacks to more than the file."""
    import zipfile

    path = tmp_path / "step_0000010.pt"
    torch.save({"kind": "cyclegan", "step": 10, "G": {"w": torch.ones(64)}}, path)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bomb, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data/0"):
                data = bytes(64 * 2**20)  # 64 MiB of zeros: about 64 KB deflated
            out.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2**20
    unpacked: list[str] = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: unpacked.append(str(name)) or
                        real_open(self, name, *a, **k))
    with pytest.raises(WeightsError, match="not a checkpoint this program wrote .*unpack to 67,"):
        load_checkpoint(bomb)
    assert not unpacked  # refused from the archive's directory alone
    monkeypatch.undo()
    one_line_error(cli("export", bomb, "-o", tmp_path / "g.safetensors"), "more than the file's")


def test_a_checkpoint_too_big_for_the_memory_left_is_out_of_memory_not_damaged(
        finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a `ulimit -v`, a whole checkpoint that did not fit was called "unreadable", exit 2, and a resume passed
    it by as damaged to train on from the one before, its steps since lost."""
    import shutil

    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    newest = list_checkpoints(run / "checkpoints")[-1][1]

    def no_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 6000000000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(torch, "load", no_memory)
    with pytest.raises(RuntimeError, match="can't allocate memory"):
        load_checkpoint(newest)
    result = cli("train", "--resume", run, "--steps", "4")
    assert result.exit_code == 1 and "out of memory" in result.stderr and "damaged" not in result.stderr, \
        result.stderr
