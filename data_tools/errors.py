"""The base of every error ``data_tools`` raises for bad input (a file, a spec, a folder).

``data_tools`` never imports ``denoise_gan``, so its errors have their own base; the CLI catches both.
"""


class DataError(ValueError):
    """Bad input data: an unreadable image, a noise spec that does not parse, a folder that cannot be used.
    The message is one line."""
