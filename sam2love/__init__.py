"""SAM2-LOVE for MMSegmentation.

Importing the package registers every component into mmseg's registries
(``DATASETS``, ``TRANSFORMS``, ``MODELS``, ...), so configs need only::

    default_scope = 'mmseg'
    custom_imports = dict(imports=['sam2love'], allow_failed_imports=False)
"""
from . import datasets, evaluation, models  # noqa: F401  (registers components)

__version__ = '0.1.0'
