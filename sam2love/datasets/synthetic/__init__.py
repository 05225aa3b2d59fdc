"""A deterministic synthetic tri-modal Ref-AVS data set.

:func:`make_synthetic_refavs` writes clips of coloured shapes moving over a
textured background, each shape category with its own sound, in the exact
layout of the Ref-AVS release (``metadata.csv``, ``media/<name>/frames``,
``media/<name>/audio.wav``, ``gt_mask/<name>/fid_<fid>``), so that the real
loader, training and evaluation code can run on it end to end::

    <out>/metadata.csv                               vid,uid,split,fid,exp
    <out>/media/<name>/frames/0.jpg ... {T-1}.jpg    one frame per second
    <out>/media/<name>/audio.wav                     16-bit PCM, mono, T s
    <out>/gt_mask/<name>/fid_<fid>/00000.png ...     'L', 0 / 255
    <out>/synthetic_info.json                        generator parameters,
                                                     per-uid expression kind
                                                     and referent category
    <out>/synthetic_extras/all_objects/<name>/00000.png
                                                     every object's visible
                                                     mask on frame 0 (not
                                                     in the release)

Ground truth comes from the scene: every expression is computed from the
objects, their motion and the per-second sound schedule, and is written only
when its referent is unique. The expressions are built so that no single
modality suffices across the set: the same frames with different text refer
to different objects; the same frames and text with different audio (the
*twin* clips, which share one scene and differ in who sounds) refer to
different objects; and some clips hold two identical-looking objects of which
only one sounds (told apart by the sound's timing and the optional visual
activity cue).

Category properties (colour, shape, pitch, timbre, rhythm) are fixed, not
drawn from the seed, so that every split and every seed agree on them. A
quarter of the categories is *unseen*: they appear only in ``test_u`` clips.
"""
from .audio import (
    AUDIO_LEVEL,
    AUDIO_NOISE,
    category_tone,
    gain_envelope,
    rhythm_envelope,
    sample_schedule,
    synthesize_audio,
)
from .categories import (
    CATEGORIES,
    COLOURS,
    EXPRESSION_KINDS,
    PRESETS,
    RHYTHMS_HZ,
    SEEN_CATEGORIES,
    SHAPE_TIMBRES,
    SHAPES,
    SPLIT_SHARES,
    SPLITS,
    UNSEEN_CATEGORIES,
    Category,
)
from .clips import ClipContent, generate_group
from .expressions import (
    NULL_AUDIO_TEXTS,
    Expression,
    candidate_expressions,
    null_expressions,
    select_expressions,
)
from .extras import (
    ALL_OBJECTS_DIR,
    EXTRAS_DIR,
    all_objects_mask_path,
    load_all_objects_mask,
    write_all_objects_mask,
)
from .plan import ClipPlan, split_counts
from .render import CUE_RADIUS, make_background, render_frames
from .scene import Scene, SceneObject, sample_scene, visible_masks
from .writer import JPEG_QUALITY, make_synthetic_refavs

#: Every public name of the generator's modules.
__all__ = [
    'ALL_OBJECTS_DIR',
    'AUDIO_LEVEL',
    'AUDIO_NOISE',
    'CATEGORIES',
    'COLOURS',
    'CUE_RADIUS',
    'Category',
    'ClipContent',
    'ClipPlan',
    'EXPRESSION_KINDS',
    'EXTRAS_DIR',
    'Expression',
    'JPEG_QUALITY',
    'NULL_AUDIO_TEXTS',
    'PRESETS',
    'RHYTHMS_HZ',
    'SEEN_CATEGORIES',
    'SHAPES',
    'SHAPE_TIMBRES',
    'SPLITS',
    'SPLIT_SHARES',
    'Scene',
    'SceneObject',
    'UNSEEN_CATEGORIES',
    'all_objects_mask_path',
    'candidate_expressions',
    'category_tone',
    'gain_envelope',
    'generate_group',
    'load_all_objects_mask',
    'make_background',
    'make_synthetic_refavs',
    'null_expressions',
    'render_frames',
    'rhythm_envelope',
    'sample_scene',
    'sample_schedule',
    'select_expressions',
    'split_counts',
    'synthesize_audio',
    'visible_masks',
    'write_all_objects_mask',
]
