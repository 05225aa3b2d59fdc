# Stage 5 of the CPU demo, beyond the paper: is what the expression names
# on screen? (`SAM2LOVE(name_check=...)`, docs/presence.md). The scene
# check names the objects SAM2 lists on frame 0 and misnames their shapes,
# unseen colour-shape pairs most: an absent referent ("the red cross"
# beside a red triangle) passes. `SilhouetteNames` finds the objects of
# each frame (connected regions of one colour, from a per-pixel namer of
# the colour words) and names each one's shape from its silhouette, with
# the words of the data set's categories (here the synthetic set's colours
# and shapes; `tools/analysis_tools/null_negatives.py DATA_ROOT` prints a
# data set's), learnt from the masks of the objects each clip's rows
# refer to (frames 0, 2, 4, 6, 8) and the categories their uids name; a
# row whose words no object of any frame shows is found absent.
# (`type='NamesOnScreen'`, the cell namer of frame 0, is for objects that
# are not flat colours; on this set it takes a star's top for a cross.)
# With the absent referents this check's, the head's threshold is
# recalibrated against silence (tools/quickstart.sh) and judges only the
# rows that ask for a sound (`head_rows='sound-asking'`), the ones that
# can hear it: a row found by sight is this check's alone.
# Beside it, `heard_check` (`HeardNames`) names each loud second's sound
# with the same words (the colour from the pitch, the shape from the
# partials' pattern, learnt from the referred objects' categories) and
# asks whether the names check finds an object carrying them (at its own
# threshold): a clip whose sound is named on screen keeps it, even where
# no activity cue shows (stage 4's sync under 0.5); a clip whose loud
# seconds sound like nothing found on screen (a match under 0.1) has it
# unmade whatever its sync.
# Trained alone on a stage-4 model (`load_from`; every other module
# frozen, no other loss), from frames and audio: the feature cache holds
# neither. The heard check draws its own random numbers, so the names
# check learns as it would without it.
#   python tools/train.py \
#       configs/sam2love_tiny-presence-scene-sound-names_1xb16-stage5_synthetic.py \
#       --cfg-options load_from=STAGE4_CHECKPOINT
_base_ = ['./sam2love_tiny-presence-scene-sound_1xb16-stage4_synthetic.py']
load_from = ('work_dirs/sam2love_tiny-presence-scene-sound_1xb16-stage4_'
             'synthetic/iter_600.pth')
model = dict(
    train_only=('names_on_screen', 'heard_names'),
    name_check=dict(type='SilhouetteNames',
                    vocabulary=('blue', 'green', 'red', 'yellow', 'circle',
                                'cross', 'diamond', 'square', 'star',
                                'triangle'),
                    head_rows='sound-asking'),
    heard_check=dict(unmade_below=0.1))
# the maps of every referred object (LoadClipObjects) name the objects
train_dataloader = dict(
    batch_size=16,
    dataset=dict(pipeline=[
        dict(type='LoadClipFrames'),
        dict(type='LoadClipAudio', sample_rate=16000),
        dict(type='LoadClipMasks'),
        dict(type='LoadClipObjects', frame=(0, 2, 4, 6, 8)),
        dict(type='ResizeClip', scale=128, mask_scale=128),
        dict(type='PackClipInputs')
    ]))
max_iters = 1200
train_cfg = dict(max_iters=max_iters, val_interval=max_iters,
                 val_begin=max_iters + 1)
default_hooks = dict(checkpoint=dict(interval=max_iters))
