"""A digest of an ONNX graph file's own content, which the file carries in its metadata: a graph damaged or
altered after export (a flipped bit in its weights, or in the metadata that gives its stride, runs and gives a
wrong image, silently) is told from the one exported. Read from the protobuf wire format directly, so the light
install (no ``onnx`` package) checks it too.
"""

from __future__ import annotations

import hashlib

from denoise_gan.nets.graph_contract import GRAPH_DIGEST_KEY

METADATA_FIELD = 14  # ModelProto.metadata_props: its entry under DIGEST_KEY is left out of what the digest covers
DIGEST_KEY = GRAPH_DIGEST_KEY.encode()  # as the file's bytes hold the key
GRAPH_FIELD, INITIALIZER_FIELD = 7, 5  # ModelProto.graph, GraphProto.initializer
DATA_LOCATION_FIELD, EXTERNAL = 14, 1  # TensorProto.data_location, DataLocation.EXTERNAL
_FIXED_SIZES = {1: 8, 5: 4}  # wire types 1 (64-bit) and 5 (32-bit)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes) -> list[tuple[int, int, int, int]]:
    """(field number, start of the record, start of its payload, end) of each top-level field of a protobuf
    message; ValueError where the bytes are none."""
    fields, at = [], 0
    while at < len(data):
        start = at
        key, at = _varint(data, at)
        wire, payload = key & 7, at
        if wire == 0:
            _, at = _varint(data, at)
        elif wire == 2:
            size, payload = _varint(data, at)
            at = payload + size
        elif wire in _FIXED_SIZES:
            at += _FIXED_SIZES[wire]
        else:
            raise ValueError(f"wire type {wire}")
        if at > len(data):
            raise ValueError("truncated field")
        fields.append((key >> 3, start, payload, at))
    return fields


def has_external_data(data: bytes) -> bool:
    """Whether an initialiser of the graph keeps its bytes in a file beside it (``onnx.save(...,
    save_as_external_data=True)``): such a graph was written again by other tools, and its digest cannot hold."""
    try:
        for graph in (data[p:e] for n, _, p, e in _fields(data) if n == GRAPH_FIELD):
            for tensor in (graph[p:e] for n, _, p, e in _fields(graph) if n == INITIALIZER_FIELD):
                if any(n == DATA_LOCATION_FIELD and _varint(tensor, p)[0] == EXTERNAL
                       for n, _, p, _ in _fields(tensor)):
                    return True
    except ValueError:
        return False
    return False


def content_digest(data: bytes) -> str | None:
    """The sha256 of the serialised model, every top-level field in file order but the metadata entry that keeps
    the digest itself (the rest of the metadata, which says what the graph is, counts); None where the bytes are
    no protobuf message at all (a damaged file)."""
    try:
        fields = _fields(data)
        digest = hashlib.sha256()
        for number, start, payload, end in fields:
            if number != METADATA_FIELD or _entry_key(data[payload:end]) != DIGEST_KEY:
                digest.update(data[start:end])
    except ValueError:
        return None
    return digest.hexdigest()


def _entry_key(entry: bytes) -> bytes:
    """A metadata entry's key (StringStringEntryProto.key, field 1), as bytes."""
    return next((entry[p:e] for n, _, p, e in _fields(entry) if n == 1), b"")
