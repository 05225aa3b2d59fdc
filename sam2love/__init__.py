"""SAM2-LOVE for MMSegmentation.

Importing the package registers every component into mmseg's registries
(``DATASETS``, ``TRANSFORMS``, ``MODELS``, ...), so configs need only::

    default_scope = 'mmseg'
    custom_imports = dict(imports=['sam2love'], allow_failed_imports=False)
"""
from . import (  # noqa: F401  (registers components)
    datasets,
    engine,
    evaluation,
    feature_cache,
    models,
    visualization,
)

__version__ = '0.1.0'
