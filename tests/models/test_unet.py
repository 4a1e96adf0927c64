"""The pix2pix networks (reparam.models.unet): the U-Net's output has its input's shape for odd
sizes and every depth, its skips carry fine detail, and the patch discriminator scores patches."""

import pytest
import torch

from reparam.models.unet import PatchDiscriminator, UNet


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize(("height", "width"), [(80, 123), (79, 31), (17, 200), (1, 1)])
def test_the_output_has_the_inputs_shape(depth, height, width):
    torch.manual_seed(0)
    x = torch.randn(2, 1, height, width)
    for residual in (True, False):
        assert UNet(channels=4, depth=depth, residual=residual).eval()(x).shape == x.shape


def test_the_residual_unet_fits_a_sharpening_of_its_input():
    """Fits a fixed sharpening of its input: the skips let it reach fine detail quickly."""
    torch.manual_seed(0)
    net = UNet(channels=8, depth=3, dropout=0.0)
    x = torch.randn(4, 1, 32, 45)
    target = x + 0.5 * (x - torch.nn.functional.avg_pool2d(x, 3, 1, 1))
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = (net(x) - target).abs().mean()
        first = first if first is not None else float(loss.detach())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert float(loss.detach()) < 0.5 * first


def test_the_discriminator_scores_each_patch_of_the_pair():
    torch.manual_seed(0)
    critic = PatchDiscriminator(channels=4, norm=False).eval()
    a, b = torch.randn(1, 1, 80, 128), torch.randn(1, 1, 80, 128)
    scores = critic(a, b)
    assert scores.shape == (1, 1, 8, 14)
    changed = b.clone()
    changed[..., :, 100:] = 0  # only the right-hand patches see the change
    delta = (critic(a, changed) - scores).abs()[0, 0]
    assert delta[:, :5].max() == 0 and delta[:, -1].max() > 0
    with pytest.raises(ValueError, match="condition"):
        critic(a, b[..., :64])
    with pytest.raises(ValueError, match="x must be"):
        UNet()(torch.randn(80, 123))
