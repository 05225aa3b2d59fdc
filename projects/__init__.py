"""Compositions of sam2love with other OpenMMLab models (see README.md);
each project's package is imported as ``projects.<name>.<package>``."""
