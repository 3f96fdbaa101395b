"""The training commands' modules answer `--help` at once: nothing heavy at import, and the --generator help
they show without torch is the registry's, word for word."""

from __future__ import annotations

import json
import subprocess
import sys

from denoise_gan.cli import train as train_cli
from denoise_gan.nets.generator_names import GENERATOR_KINDS
from denoise_gan.nets.registry import GENERATORS
from denoise_gan.nets.registry import denoisers_help as registry_help
from helpers import CHILD_ENV

HEAVY = ("torch", "scipy", "skimage", "matplotlib", "denoise_gan.nets", "denoise_gan.training",
         "denoise_gan.runtime", "denoise_gan.inference", "denoise_gan.evaluation")

# Imports cli/train.py and cli/adapt.py alone: the cli package's __init__ (which registers every command, other
# groups' modules included) is replaced by a bare package, so what loads is what these two modules import.
ONLY_THESE = """
import json, sys, types, pathlib, denoise_gan
package = types.ModuleType("denoise_gan.cli")
package.__path__ = [str(pathlib.Path(denoise_gan.__file__).parent / "cli")]
sys.modules["denoise_gan.cli"] = package
import denoise_gan.cli.train, denoise_gan.cli.adapt
print(json.dumps(sorted(sys.modules)))
"""


def test_train_and_adapt_modules_import_nothing_heavy() -> None:
    done = subprocess.run([sys.executable, "-c", ONLY_THESE], env=CHILD_ENV, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    light = {"denoise_gan.nets", "denoise_gan.nets.generator_names"}  # the torch-free table of generator names
    heavy = [m for m in loaded if m not in light and any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert not heavy, heavy


def test_generator_help_is_the_registrys() -> None:
    assert [(k.name, k.help) for k in GENERATOR_KINDS] == [(s.name, s.help) for s in GENERATORS.values()]
    shown = {o.name: o.help for o in train_cli.train_command.config_options}["generator"]
    assert shown == f"G's architecture: {registry_help()}."
    assert "level:" in shown and "noise:" not in shown and "colour-noise" not in shown  # G's choices, not F's
    # the registry is built from the same list, so only words pin the order (the shipped default first) and the
    # separators a reader needs between entries whose texts hold commas
    assert [entry.split(":")[0] for entry in registry_help().split("; ")] == ["level", "unet", "resnet"]
