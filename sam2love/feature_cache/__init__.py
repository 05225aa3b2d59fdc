"""A frozen-feature cache for stage-2 training: the store and its loader.

SAM2-LOVE trains with its encoders and SAM2's image encoder frozen (paper,
section 3.4), so what they compute for a training sample never changes.
``tools/extract_features.py`` runs them once over a split and stores the
outputs here; training with ``RefAVSDataset(feature_cache=DIR)`` then
reads them instead of decoding frames and audio, and the model skips the
frozen parts (:class:`~sam2love.models.SAM2LOVE`).

Layout of a cache folder ``DIR``::

    DIR/manifest.json                what the cache depends on (below) and,
                                     per split, whether it is complete
    DIR/<split>/index.json           clip -> (shard, offset, frame size);
                                     metadata line -> (shard, offset, clip,
                                     uid, expression)
    DIR/<split>/shard-00000/         one shard: up to ``shard_size`` clips
        audio_feats.npy   (n, N, Da)      VGGish, per clip
        patch_feats.npy   (n, T, HW, Dv)  vision patch tokens, per clip
        cls_feats.npy     (n, T, Dv)      vision [cls] tokens, per clip
        sam2_fpn_<i>.npy  (n, C_i, h_i, w_i)  SAM2 image encoder, frame 0,
                                          before the trainable conv_s0/s1
        text_feats.npy    (m, P, Dt)      text encoder, per expression row
        text_mask.npy     (m, P) bool
        done.json                         written last: the shard is whole
    DIR/logs/                        the extraction's log

Arrays are ``.npy`` files read memory-mapped (``np.load(mmap_mode='r')``),
float32 or float16 (``manifest['dtype']``); loaded samples are float32.
A clip's features are stored once however many expressions refer to it.

The manifest records the frozen parts (configs, SHA-256 of their weights;
see ``SAM2LOVE.frozen_fingerprint``), and per split the data
(:func:`~sam2love.feature_cache.pipeline.data_fingerprint`: SHA-256 of
``metadata.csv``, split, clip length, the pipeline steps that shape the
frozen inputs), dtype and shapes. A cache that differs from the model or
the data set in any entry is refused
(:class:`~sam2love.feature_cache.manifest.FeatureCacheError`, naming the
entry, the expected and the found value). The media files themselves are not
hashed (17 GB for Ref-AVS): re-extract after editing frames or audio in
place.

The modules: :mod:`.keys` (the arrays' names, once), :mod:`.manifest`
(the manifest and the checks against the model and the data set),
:mod:`.pipeline` (the data side: which steps make the frozen inputs, the
cached training pipeline), :mod:`.writer` and :mod:`.reader` (with the
``LoadCachedFeatures`` transform). The extraction itself runs a model:
:func:`sam2love.apis.extract_feature_cache`.
"""
from .keys import (
    CACHE_KEYS,
    CLIP_KEYS,
    ROW_KEYS,
    SAM2_LEVEL_KEY,
    cached_sam2_levels,
    is_clip_key,
)
from .manifest import (
    CACHE_FORMAT,
    CACHE_VERSION,
    MANIFEST,
    FeatureCacheError,
    check_cache_data,
    check_frozen_parts,
    read_manifest,
)
from .pipeline import (
    cached_pipeline,
    check_no_random_transforms,
    data_fingerprint,
    extraction_pipeline,
    frozen_input_steps,
    random_steps,
)
from .reader import FeatureCacheReader, LoadCachedFeatures
from .writer import FeatureCacheWriter, SplitPlan, folder_bytes

__all__ = ['LoadCachedFeatures', 'FeatureCacheReader', 'FeatureCacheWriter',
           'SplitPlan', 'data_fingerprint', 'check_cache_data',
           'cached_pipeline', 'extraction_pipeline', 'frozen_input_steps',
           'check_no_random_transforms', 'random_steps', 'folder_bytes',
           'FeatureCacheError', 'read_manifest', 'check_frozen_parts',
           'MANIFEST', 'CACHE_FORMAT', 'CACHE_VERSION', 'CACHE_KEYS',
           'CLIP_KEYS', 'ROW_KEYS', 'SAM2_LEVEL_KEY', 'cached_sam2_levels',
           'is_clip_key']
