"""The exported ONNX graph's interface, shared by the exporter (torch) and the ONNX Runtime engine (no torch).

Inputs: ``image`` float32 NxCxHxW in [0, 1], any H and W; a level-aware model also takes ``strength``
(float32 [1]: the estimated level map is scaled by it) and ``sigma`` (float32 [1]: a uniform σ on the 0-255
scale; a negative value means "estimate the map"), and may take ``level_profile`` (below). Output: ``denoised``, the
input's shape, clipped to [0, 1]. The metadata (``metadata_props``) says what the graph is, so the engine never guesses.
"""

from __future__ import annotations

GRAPH_FORMAT = "denoise-gan-onnx/1"
IMAGE, STRENGTH, SIGMA, OUTPUT = "image", "strength", "sigma", "denoised"
ESTIMATE = -1.0  # the sigma input's "no fixed σ: estimate the level map"
# a level-aware graph's optional input ``level_profile``, float32 [N, C, bins] (an initialiser a caller may override;
# its default, all negative, profiles each image on its own): per image, the bins' medians of the photo it is a
# tile of (``profile_bins.photo_profile``), or all negative for its own; and, base64 in its metadata under
# ESTIMATOR_KEY, a second graph (input ``image``; outputs ``cells`` and ``brightness``) that reads what a photo's
# profile is made of, so the tiler runs the small estimator over every tile first, not the whole network
LEVEL_PROFILE, CELLS, BRIGHTNESS = "level_profile", "cells", "brightness"
ESTIMATOR_KEY = "estimator_graph"
PREDATES_PHOTO_PROFILE = "was exported before a photo's tiles shared one level profile"  # what users read

# metadata keys: GRAPH_FORMAT under "format"; the generator config (JSON) under "config"; descriptive metadata
# (JSON) under "meta"; "level_aware" ("true"/"false"), "stride", "min_tile" and "channels" as decimal text;
# "source_sha256", the sha256 of the safetensors file the graph was made from, so a stale graph is noticed, and
# "source_digest", the sha256 of that file's canonical form (``weight_header.weights_digest``; graphs made before
# it lack it), so a byte-for-byte different copy of the same weights still owns the graph
FORMAT_KEY, CONFIG_KEY, META_KEY = "format", "config", "meta"
LEVEL_AWARE_KEY, STRIDE_KEY, MIN_TILE_KEY, CHANNELS_KEY = "level_aware", "stride", "min_tile", "channels"
SOURCE_KEY, SOURCE_DIGEST_KEY = "source_sha256", "source_digest"
# the sha256 of the graph file's own content but this entry (``graph_digest.content_digest``): a graph damaged or
# altered since its export is refused; graphs exported before it lack it, and are run unchecked
GRAPH_DIGEST_KEY = "graph_sha256"
# a level-aware graph's blind map: "brightness-profile" since the map is projected onto a function of
# brightness (``nets.level_profile``); a graph without the key predates that and is remade before use
LEVEL_MAP_KEY, LEVEL_MAP = "level_map", "brightness-profile"
PREDATES_LEVEL_PROFILE = "was exported before the blind level map was profiled by brightness"  # what users read
# a graph whose content its own digest cannot vouch for: one exported before the digest, or one whose weights
# other tools moved to a file beside it (a changed byte there would pass); beside weights, torch runs those
UNCHECKED_GRAPH = ("cannot be checked for damage or alteration (it records no digest of its own content, or keeps "
                   "its weights in a file beside it)")
# a level-aware graph's cap on the map that conditions G (the model's ``level_max``, ``generator_names.LEVEL_MAX``
# unless its training went higher, as decimal text); a graph without it runs the map uncapped (far above its
# training levels G darkens a photo): the same below the cap, so it is used, with a note
LEVEL_MAX_KEY = "level_max"
PREDATES_LEVEL_MAX = "was exported before the level map was capped at the highest level the model knows"
