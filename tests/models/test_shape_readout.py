"""``PrototypeShapeLoss``: a prototype read out into its object's silhouette."""
import torch
import torch.nn.functional as F

from sam2love.models.losses import PrototypeShapeLoss, silhouettes


def test_silhouettes_drop_place_and_scale():
    """The same square, small in one corner and large in another, gives one
    silhouette; a thin bar gives another, centred in its bounding square."""
    masks = torch.zeros(3, 64, 64)
    masks[0, 2:18, 3:19] = 1
    masks[1, 30:62, 20:52] = 1
    masks[2, 10:42, 40:48] = 1  # 32 x 8 bar
    s = silhouettes(masks, 8)
    assert s.shape == (3, 8, 8)
    torch.testing.assert_close(s[0], torch.ones(8, 8))
    torch.testing.assert_close(s[1], torch.ones(8, 8))
    # the bar fills the middle two of eight columns, top to bottom
    torch.testing.assert_close(s[2][:, 3:5], torch.ones(8, 2))
    assert s[2][:, :3].sum() == 0 and s[2][:, 5:].sum() == 0


def test_loss_is_learnt_from_prototypes_that_encode_shape_only():
    """Prototypes that encode the shape (a square or a bar, anywhere)
    are read out into the right silhouettes; empty masks are left out."""
    torch.manual_seed(0)
    loss = PrototypeShapeLoss(dim=4, size=8)
    masks = torch.zeros(4, 32, 32)
    masks[0, 0:8, 0:8] = 1  # square
    masks[1, 16:32, 10:26] = 1  # square
    masks[2, 4:20, 20:24] = 1  # bar
    # masks[3] empty
    protos = F.normalize(torch.tensor(
        [[1., 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]), dim=-1)
    opt = torch.optim.Adam(loss.parameters(), lr=1e-2)
    first = float(loss(protos, masks))
    for _ in range(200):
        opt.zero_grad()
        value = loss(protos, masks)
        value.backward()
        opt.step()
    assert float(value) < 0.3 * first
    logits = loss.silhouette_logits(protos[:3])
    assert ((logits > 0).float() == (silhouettes(masks[:3], 8) > 0.5)
            ).float().mean() > 0.95
    assert float(PrototypeShapeLoss(4, loss_weight=2.0)(
        protos[3:], masks[3:])) == 0


def test_gradient_reaches_the_prototypes():
    protos = F.normalize(torch.randn(2, 16), dim=-1).requires_grad_()
    masks = torch.zeros(2, 16, 16)
    masks[:, 4:12, 6:10] = 1
    PrototypeShapeLoss(16)(protos, masks).backward()
    assert protos.grad.abs().sum() > 0
