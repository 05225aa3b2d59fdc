"""The tiny set-up the feature-cache tests share (one per test module)."""
import pytest
from feature_cache_helpers import tiny_setup


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    """A tiny tree, its config and model, and an fp32 cache of train
    (:func:`~feature_cache_helpers.tiny_setup`)."""
    return tiny_setup(tmp_path_factory, 'feature_cache')
