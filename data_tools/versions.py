"""Installed package versions, read from package metadata, for the records a set or a benchmark keeps."""

from __future__ import annotations

from importlib import metadata


def installed_version(package: str, missing: str = "not installed") -> str:
    """The version pip installed, or ``missing``: an optional baseline's absence is recorded, not raised."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return missing


def tool_version() -> str:
    """This tool's own version, read from metadata (data_tools never imports denoise_gan)."""
    return installed_version("denoise-gan", missing="unknown")
