"""The CBHG encoder (reparam.models.cbhg): a sentence's encoding is the same alone and beside
a longer one, zero at padding, and the highway layers start near the identity."""

import pytest
import torch

from reparam.models.cbhg import CBHG, Highway


def test_a_sentence_encodes_alike_alone_and_in_a_padded_batch():
    torch.manual_seed(0)
    encoder = CBHG(inputs=6, channels=4, units=8, bank=4).eval()
    x = torch.randn(2, 6, 7)
    mask = torch.arange(7) < torch.tensor([7, 4])[:, None]
    batch = encoder(x, mask)
    alone = encoder(x[1:, :, :4], torch.ones(1, 4, dtype=torch.bool))
    torch.testing.assert_close(batch[1:, :4], alone)
    assert (batch[1, 4:] == 0).all()


def test_a_highway_starts_near_the_identity():
    torch.manual_seed(0)
    layer = Highway(16)
    h = torch.randn(32, 16)
    with torch.no_grad():
        gate = torch.sigmoid(layer.gate(h))
    assert float(gate.mean()) < 0.35  # bias -1: mostly carried through
    with torch.no_grad():
        torch.testing.assert_close(layer(h), gate * torch.relu(layer.transform(h)) + (1 - gate) * h)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: CBHG(inputs=6, units=7), "units"),
        (lambda: CBHG(inputs=6, bank=0), "bank"),
        (
            lambda: CBHG(inputs=6, channels=4, units=8)(
                torch.randn(2, 5, 3), torch.ones(2, 3).bool()
            ),
            "inputs",
        ),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()
