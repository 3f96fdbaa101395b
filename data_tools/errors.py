"""The one root of every error this project raises for something the user can fix, and the data errors.

``data_tools`` never imports ``denoise_gan``, so the root lives here, at the bottom of the import graph:
``denoise_gan.errors`` re-exports it, and ``DataError``, ``ConfigError``, ``UserError`` and ``WeightsError``
all derive from it, so a caller catches one class.
"""


class DenoiseGanError(ValueError):
    """Base of every user-facing error of the project; the message is one line."""


class DataError(DenoiseGanError):
    """Bad input data: an unreadable image, a noise spec that does not parse, a folder that cannot be used.
    The message is one line."""


class ImageTypeError(DataError, TypeError):
    """An image or a noise source of a type the call cannot take (a float image for noise drawn in file
    levels); a TypeError too, so either ``except`` catches it."""


# how each library says that the CPU's memory ran out (torch's allocator, ONNX Runtime's arena, OpenCV's
# "(-4:Insufficient memory) Failed to allocate N bytes"), in an error that is not a MemoryError: said as memory,
# not as the file's or the command's fault
CPU_OUT_OF_MEMORY = ("can't allocate memory", "Failed to allocate memory", "std::bad_alloc", "Insufficient memory")
