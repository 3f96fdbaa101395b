"""Image files, noise models, training datasets and the bundled photos.

albumentations (imported by the datasets and the noise transform) asks the package registry for a newer
release of itself on import unless told not to: offline, or on any release but the newest, every `train`,
`refine` and `adapt` began with its two-line warning naming its own source file, after up to 2 s waiting for
the answer. A user's own setting of the variable is kept.
"""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
