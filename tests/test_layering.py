"""The import graph reads top-down: cli -> training -> evaluation -> inference -> nets -> base -> data_tools.

Parsed with ``ast`` (no imports run), so a layering mistake fails here with the offending import named,
whether or not any test exercises that code path. ``training`` may use ``evaluation`` (validation scores
with the protocol's metrics) and ``inference`` (it denoises the validation set), and ``evaluation`` may
use ``inference`` (the benchmark and the demo run the tiler); nothing points back up, and nothing imports
the CLI. ``data_tools`` never imports ``denoise_gan``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# higher layers may import lower ones only; same-layer imports are allowed within a subpackage
LAYERS = {
    "denoise_gan.cli": 6,
    "denoise_gan.training": 5,
    "denoise_gan.evaluation": 4,
    "denoise_gan.inference": 3,
    "denoise_gan.nets": 2,
    "denoise_gan.config": 1,
    "denoise_gan.runtime": 1,
    "denoise_gan.progress_bar": 1,
    "denoise_gan.errors": 1,
    "denoise_gan.interrupts": 1,
    "denoise_gan": 1,  # the package itself (__version__)
    "data_tools": 0,
}

# the package's public names, imported lazily on first use by the package's own __init__ (``from denoise_gan
# import Denoiser``): a facade over the pipeline, not a layer of it
PUBLIC_API = {"denoise_gan.inference.api", "denoise_gan.inference.api.Denoiser",
              "denoise_gan.inference.noise_model", "denoise_gan.inference.noise_model.NoiseModel",
              "denoise_gan.inference.file_plan", "denoise_gan.inference.file_plan.OutputOptions"}


ENTRY_POINTS = ("denoise_gan.launch", "denoise_gan.__main__")


def layer(module: str) -> tuple[str, int]:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer; add it to LAYERS")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports(path: Path) -> set[str]:
    """Every denoise_gan/data_tools module a file imports, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] in ("denoise_gan", "data_tools")}
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted((ROOT / "denoise_gan").rglob("*.py")) + sorted((ROOT / "data_tools").rglob("*.py"))
    return {module_name(f): project_imports(f) for f in files}


def test_every_import_points_down_the_pipeline() -> None:
    wrong = []
    for module, imports in import_graph().items():
        if module in ENTRY_POINTS:
            continue  # the console script and `python -m denoise_gan` start the CLI
        mine, mine_level = layer(module)
        for imported in imports:
            if module == "denoise_gan" and imported in PUBLIC_API:
                continue
            theirs, their_level = layer(imported)
            if their_level > mine_level:
                wrong.append(f"{module} imports {imported} (layer {theirs} is above {mine})")
            elif their_level == mine_level and mine_level > 1 and theirs != mine:
                wrong.append(f"{module} imports {imported} (a sibling layer)")
    assert not wrong, "\n".join(sorted(wrong))


def test_data_tools_never_imports_denoise_gan() -> None:
    offenders = {m: sorted(i for i in imports if i.startswith("denoise_gan"))
                 for m, imports in import_graph().items() if m.startswith("data_tools")}
    assert not any(offenders.values()), offenders


def test_nothing_but_the_entry_points_import_the_cli() -> None:
    offenders = [m for m, imports in import_graph().items()
                 if not m.startswith("denoise_gan.cli") and m not in ENTRY_POINTS
                 and any(i == "denoise_gan.cli" or i.startswith("denoise_gan.cli.") for i in imports)]
    assert not offenders, offenders


def test_no_import_cycles_between_modules() -> None:
    graph = import_graph()
    modules = set(graph)
    edges = {m: {i for i in imports if i in modules and i != m} for m, imports in graph.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle of the pipeline
    for m in edges:
        edges[m] = {i for i in edges[m] if not m.startswith(i + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
