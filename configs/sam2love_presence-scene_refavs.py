# Stage 3 on the release, beyond the paper: the check of every object on
# frame 0 (`presence.source='scene'`: each object the decoder gives from
# frame 0's cells, checked against the expression's tokens and the sound
# before fusion; the clip scores its best object), learnt alone on a
# trained SAM2-LOVE as sam2love_presence-verify_refavs.py learns the check
# of the kept object (its data, made null rows and schedule). Hiera-L's
# 64 x 64 stride-16 cells are pooled to 16 x 16 to list objects (256
# decodes a clip); each object also read at SAM2's two high-resolution
# levels (`fine_regions`). Null rows made of another clip's expression and of
# silence, not of another clip's sound (on the demo the check did not
# learn to hear the mismatch from them); null_weight unchanged: every
# ordinary row can lend an expression, so null_share() is the same. Not
# measured on the release here (no data on this
# machine); the CPU demo's figures are in docs/presence.md.
#   tools/dist_train.sh configs/sam2love_presence-scene_refavs.py 2 \
#       --cfg-options load_from=STAGE2_CHECKPOINT
_base_ = ['./sam2love_presence-verify_refavs.py']
model = dict(
    train_only=('decode_head.presence_scene', ),
    decode_head=dict(presence=dict(source='scene', list_grid=16,
                                      fine_regions=True)))
train_dataloader = dict(dataset=dict(null_negatives=dict(
    kinds=('expression', 'silence'))))
# a check learnt from scratch on a frozen model: the demo's rate
optim_wrapper = dict(optimizer=dict(lr=3e-3))
