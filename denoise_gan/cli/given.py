"""Which options the user typed, as against defaulted: what a command refuses when it cannot honour them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import typer

from denoise_gan.errors import UserError


def given_names(ctx: typer.Context, names: Iterable[str]) -> list[str]:
    """The parameters among ``names`` the user gave on the command line (not defaulted)."""
    def from_user(name: str) -> bool:  # by name: typer may ship its own copy of click's ParameterSource
        source = ctx.get_parameter_source(name)
        return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT")

    return [name for name in names if from_user(name)]


def given_options(ctx: typer.Context, names: tuple[str, ...] | None = None,
                  but: tuple[str, ...] = ()) -> list[str]:
    """The flags (``--width``) of the options among ``names`` (default: all) that the user gave, not defaulted:
    what a command must refuse when it cannot honour them."""
    chosen = [p for p in ctx.command.params if p.name and (names is None or p.name in names) and p.name not in but]
    given = set(given_names(ctx, [str(p.name) for p in chosen]))
    return [_as_typed(p, ctx) for p in chosen if p.name in given]


def _as_typed(param: Any, ctx: typer.Context) -> str:
    """A given option's flag as the user typed it: ``--no-quantize``, not ``--quantize``, for a switch turned off."""
    off = getattr(param, "secondary_opts", None) and ctx.params.get(str(param.name)) is False
    flag = param.secondary_opts[0] if off else param.opts[0]
    return flag if flag.startswith("-") else str(param.name)


def them(options: list[str]) -> str:
    """The pronoun for the options a message tells the user to drop."""
    return "them" if len(options) > 1 else "it"


def resume_refuses_options(ctx: typer.Context, allowed: tuple[str, ...]) -> None:
    """A resumed run continues with its stored config: any other option given on the command line cannot be
    honoured, so it is refused rather than silently ignored."""
    given = given_options(ctx, but=allowed)
    if given:
        raise UserError(f"--resume continues the run with its stored config (see its config.json); "
                        f"{', '.join(given)} cannot change it: drop {them(given)}, or start a new run in another "
                        "folder")


def resume_device(ctx: typer.Context, options: dict[str, Any]) -> str | None:
    """The --device a resume was given (None: the run's own), its form checked before torch loads."""
    if not given_names(ctx, ["device"]):
        return None
    from denoise_gan.runtime import check_device_name

    return check_device_name(options["device"])
