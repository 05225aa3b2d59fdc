"""``presence.source='scene'``: frame 0's objects listed, each checked
against the expression and the sound."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from test_presence import as_null
from test_sam2love_segmentor import build_model, forward_loss

from sam2love.models.decode_heads.scene_presence import (
    ABSTAIN_LOGIT,
    ListingMemo,
    ScenePresence,
    box_crops,
    list_frame0_objects,
    object_loss,
    object_targets,
    region_features,
)

SCENE = dict(source='scene', null_weight=2.0)


def scene_model(fine_regions: bool = False, **kwargs):
    """The tiny model with the scene check, SAM2's object score biased so
    that the decoder lists objects."""
    model = build_model(presence=dict(SCENE, fine_regions=fine_regions),
                        **kwargs)
    with torch.no_grad():
        model.decode_head.sam.sam_mask_decoder.pred_obj_score_head \
            .layers[-1].bias.fill_(10.)
    return model


def test_box_crops_see_a_shape_alike_at_any_place_and_scale():
    masks = torch.zeros(3, 32, 32)
    masks[0, 2:6, 3:7] = 1.0  # a small square in a corner
    masks[1, 10:26, 12:28] = 1.0  # the same square, 4x larger, elsewhere
    crops = box_crops(masks, size=16, pad=0.25)
    assert crops.shape == (3, 1, 16, 16)
    # the same silhouette, only its edges blurred from 4 pixels
    assert (crops[0] - crops[1]).abs().mean() < 0.1
    assert crops[:2, 0, 8, 8].tolist() == [1.0, 1.0]  # the object is centred
    assert crops[1, 0, 0, 0] == 0.0  # the pad is around it
    assert torch.equal(crops[2], torch.zeros(1, 16, 16))  # nothing kept


def test_box_crops_crop_other_maps_to_the_same_boxes():
    """A map of the frame at another resolution is cropped where the
    silhouette is: a map equal to the mask (at 4x the size) crops alike."""
    masks = torch.zeros(2, 16, 16)
    masks[0, 2:6, 3:9] = 1.0
    masks[1, 8:15, 1:5] = 1.0
    images = F.interpolate(masks[:, None], scale_factor=4.0)
    crops = box_crops(masks, size=16, images=torch.cat([images, -images], 1))
    assert crops.shape == (2, 3, 16, 16)
    # alike up to the blur of sampling the coarser mask
    assert (crops[:, 1] - crops[:, 0]).abs().mean() < 0.05
    assert ((crops[:, 1] > 0.5) == (crops[:, 0] > 0.5)).float().mean() > 0.95
    torch.testing.assert_close(crops[:, 2], -crops[:, 1])


def test_region_features_are_the_unit_mean_under_each_mask():
    feats = torch.zeros(1, 2, 2, 2)
    feats[0, 0, :, 0] = 3.0  # left column: the first channel
    feats[0, 1, :, 1] = 0.5  # right column: the second
    masks = torch.zeros(1, 2, 8, 8)
    masks[0, 0, :, :4] = 1.0
    masks[0, 1, :, 4:] = 1.0
    region = region_features(masks, feats)
    assert region.shape == (1, 2, 2)
    torch.testing.assert_close(region[0], torch.eye(2))


def test_object_targets_score_the_objects_that_cover_the_referent():
    masks = torch.zeros(2, 4, 8, 8)
    masks[:, 0, :4, :4] = 1.0  # the referent of row 0, exactly
    masks[:, 1, :4, :2] = 1.0  # half of it: IoU 0.5
    masks[:, 2, :4, :1] = 1.0  # a quarter: IoU 0.25, unscored
    masks[:, 3, 4:, 4:] = 1.0  # elsewhere
    listed = torch.tensor([[True, True, True, True],
                           [True, False, True, True]])
    gt = torch.zeros(2, 16, 16)
    gt[0, :8, :8] = 1.0  # row 1 refers to nothing
    targets, covered = object_targets(masks, listed, gt)
    assert targets.tolist() == [[1, 1, -1, 0], [0, -1, 0, 0]]
    assert covered.tolist() == [True, True]
    listed[0, :2] = False  # the referent no longer covered
    assert object_targets(masks, listed, gt)[1].tolist() == [False, True]
    listed[1] = False  # nothing listed: the check abstains, no BCE
    assert object_targets(masks, listed, gt)[1].tolist() == [False, False]


def test_object_loss_weighs_both_sides_alike_and_skips_the_unscored():
    logits = torch.tensor([[2.0, -1.0, 0.0, float('-inf')]],
                          requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 0.0, -1.0]])
    bce = torch.nn.functional.softplus
    want = (bce(torch.tensor(-2.0)) + (bce(torch.tensor(-1.0))
                                       + bce(torch.tensor(0.0))) / 2) / 2
    loss = object_loss(logits, targets)
    torch.testing.assert_close(loss, want)
    loss.backward()
    assert logits.grad[0, 3] == 0
    none = object_loss(logits, torch.full_like(targets, -1.0))
    assert none.item() == 0 and none.requires_grad


def shapes_scene() -> tuple[torch.Tensor, torch.Tensor]:
    """Two listed objects (a square, a disc), one unlisted: (1, 3, 32,
    32) masks and (1, 3) listed."""
    yy, xx = torch.meshgrid(torch.arange(32.), torch.arange(32.),
                            indexing='ij')
    masks = torch.zeros(1, 3, 32, 32)
    masks[0, 0, 4:12, 4:12] = 1.0
    masks[0, 1] = (((yy - 22) ** 2 + (xx - 22) ** 2) < 36).float()
    masks[0, 2, 20:30, 2:4] = 1.0
    return masks, torch.tensor([[True, True, False]])


def test_scene_check_learns_which_named_shape_is_on_screen():
    """Expressions naming the square and the disc are found present, one
    naming the bar (drawn but never listed) or nothing on screen absent:
    the clip scores its best listed object, whichever place of the
    expression names it."""
    torch.manual_seed(0)
    check = ScenePresence(query_dim=2, feat_dim=8, token_dim=4, width=16)
    masks, listed = shapes_scene()
    feats = torch.randn(1, 8, 4, 4)
    # the words square, disc, bar, nothing; each expression one word and
    # padding (zeros), its word at another place
    tokens = torch.zeros(4, 3, 4)
    for i in range(4):
        tokens[i, i % 3, i] = 1.0
    query = torch.zeros(4, 2)
    present = torch.tensor([[1.0], [1.0], [0.0], [0.0]])
    optimizer = torch.optim.AdamW(check.parameters(), lr=1e-2)
    for _ in range(60):
        clip, objects = check(query, masks, listed, feats, tokens)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            clip, present)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    check.eval()
    with torch.no_grad():
        clip, objects = check(query, masks, listed, feats, tokens)
    assert clip.shape == (4, 1) and objects.shape == (4, 3)
    assert (clip.sigmoid() > 0.5).flatten().tolist() == [True, True, False,
                                                         False]
    assert torch.isinf(objects[:, 2]).all()  # never listed
    empty = check(query[:1], masks, torch.zeros_like(listed), feats,
                  tokens[:1])[0]
    assert empty.item() == ABSTAIN_LOGIT  # cannot look: keeps the masks


def test_scene_check_reads_every_level_under_an_object():
    """With ``fine_dims`` an object's embedding reads the finer levels
    too: a change under the object at any level changes it, one far from
    it (the lower half of the frame; the square is in the upper) at none."""
    torch.manual_seed(0)
    check = ScenePresence(query_dim=2, feat_dim=8, token_dim=4, width=16,
                          fine_dims=(3, 5)).eval()
    masks, listed = shapes_scene()
    levels = [torch.randn(1, 8, 4, 4), torch.randn(1, 3, 16, 16),
              torch.randn(1, 5, 8, 8)]
    base = check.embed_objects(masks, listed, levels)
    assert base.shape == (1, 3, 2 * 16 + 1)
    for i, level in enumerate(levels):
        cover = F.interpolate(masks[:, :1], level.shape[-2:], mode='area')
        under, beside = list(levels), list(levels)
        under[i] = level + 3 * (cover > 0)
        far = torch.zeros_like(cover)
        far[..., level.size(-2) // 2:, :] = 1.0
        beside[i] = level + 3 * far
        embed = check.embed_objects(masks, listed, under)[0, 0]
        assert not torch.allclose(embed, base[0, 0])
        torch.testing.assert_close(
            check.embed_objects(masks, listed, beside)[0, 0], base[0, 0])


def test_listing_memo_lists_each_clip_once():
    model = scene_model().eval()
    head = model.decode_head
    frames = torch.randn(2, 3, head.sam.image_size, head.sam.image_size)
    from sam2love.models.sam2.features import encode_frames
    with torch.no_grad():
        encoded = encode_frames(head.sam, frames)
    calls = []
    memo = ListingMemo()
    real = list_frame0_objects

    def spy(head, backbone_out, grid=None):
        calls.append(backbone_out['vision_features'].size(0))
        return real(head, backbone_out, grid)

    import sam2love.models.decode_heads.scene_presence as module
    module.list_frame0_objects, saved = spy, module.list_frame0_objects
    try:
        first = memo(head, encoded)
        again = memo(head, encoded)
    finally:
        module.list_frame0_objects = saved
    direct = list_frame0_objects(head, encoded)
    n = encoded['vision_features'][0, 0].numel()
    assert calls == [2]  # listed once, both clips in one call
    assert direct['listed'].any(1).all()
    assert first['masks'].shape == (2, n, 32, 32)
    for got in (first, again):
        assert torch.equal(got['masks'], direct['masks'])
        assert torch.equal(got['listed'], direct['listed'])
    # a memo too small for two clips lists them again, each time right
    small = ListingMemo(max_bytes=first['masks'][0].numel() * 4)
    for _ in range(2):
        got = small(head, encoded)
        assert torch.equal(got['masks'], direct['masks'])
    assert len(small.store) == 1
    # the cells pooled to a coarser grid: fewer objects, same mask size
    coarse = ListingMemo(grid=2)(head, encoded)
    assert coarse['masks'].shape == (2, 4, 32, 32)
    torch.testing.assert_close(coarse['masks'], list_frame0_objects(
        head, encoded, grid=2)['masks'])


@pytest.fixture(scope='module')
def scene_batch(tiny_samples):
    ordinary = next(s for s in tiny_samples
                    if s['data_samples'].gt_sem_seg.data[0].any())
    return pseudo_collate([ordinary, as_null(ordinary, 'The purple star.')])


@pytest.mark.parametrize('fine_regions', [False, True])
def test_scene_check_trains_only_itself(scene_batch, fine_regions):
    """Its losses (the clip's presence and each listed object's) reach its
    own layers only: the masks are those of the model without it."""
    model = scene_model(fine_regions)
    model.train()
    losses = forward_loss(model, scene_batch)
    assert {'loss_presence', 'loss_presence_objects'} <= set(losses)
    (losses['loss_presence'] + losses['loss_presence_objects']).backward()
    others = [p.grad for name, p in model.named_parameters()
              if p.requires_grad and 'presence_scene' not in name]
    assert all(g is None or not g.any() for g in others)
    assert model.decode_head.presence_scene.head[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize('fine_regions', [False, True])
def test_scene_presence_at_inference_whole_clips_and_streamed(scene_batch,
                                                              fine_regions):
    """Whole clips, K expressions of one clip streamed, and one clip
    streamed alone give the same clip presence (the clip listed once per
    pass, shared by its expressions)."""
    model = scene_model(fine_regions).eval()
    head = model.decode_head
    seen = []
    clip_presence = head.clip_presence

    def spy(*args, **kwargs):
        seen.append(clip_presence(*args, **kwargs))
        return seen[-1]

    head.clip_presence = spy
    with torch.no_grad():
        data = model.data_preprocessor(scene_batch)
        prompt = model.extract_feat(data['inputs'],
                                    [ds.text for ds in data['data_samples']])
        frames = data['inputs']['frames']
        head.predict_clip(prompt, frames)
        out = next(head.track(prompt, frames[0]))  # both rows share clip 0
    assert seen[0].shape == seen[1].shape == (2, )
    torch.testing.assert_close(seen[1], seen[0], rtol=1e-4, atol=1e-4)
    assert ((out['presence'] >= 0) & (out['presence'] <= 1)).all()
