"""The decoder attentions (reparam.models.tts_attention): shapes, distributions over the valid
positions only, padding that cannot leak into the context, the GMM's forward-only means, and a
monotone alignment learnt on a synthetic copy task."""

import pytest
import torch
from torch import nn

from reparam.models.tts_attention import ATTENTIONS, masked_softmax

Q, M = 8, 6
MASK = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]]).bool()


def mechanism(name: str) -> nn.Module:
    torch.manual_seed(0)
    return ATTENTIONS[name](query_dim=Q, memory_dim=M)


@pytest.mark.parametrize("name", list(ATTENTIONS))
def test_weights_are_distributions_over_the_valid_positions(name):
    attention = mechanism(name)
    memory = torch.randn(2, 7, M)
    state = attention.start(memory, MASK)
    for _ in range(4):
        context, weights, state = attention(torch.randn(2, Q), state)
        assert context.shape == (2, M) and weights.shape == (2, 7)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2))
        assert (weights[~MASK] == 0).all() and (weights >= 0).all()
        torch.testing.assert_close(context, torch.einsum("bn,bnm->bm", weights, memory))
    torch.testing.assert_close(state.cumulative.sum(-1), torch.full((2,), 5.0))  # start + 4


@pytest.mark.parametrize("name", list(ATTENTIONS))
def test_padding_does_not_reach_the_context(name):
    attention = mechanism(name)
    memory = torch.randn(2, 7, M)
    changed = memory.clone()
    changed[1, 4:] = 1e3 * torch.randn(3, M)
    queries = torch.randn(3, 2, Q)
    outputs = []
    for memory_ in (memory, changed):
        state, contexts = attention.start(memory_, MASK), []
        for q in queries:
            context, _, state = attention(q, state)
            contexts.append(context)
        outputs.append(torch.stack(contexts))
    torch.testing.assert_close(outputs[0], outputs[1])


def test_the_gmm_means_only_move_forward():
    attention = mechanism("gmm")
    state = attention.start(torch.randn(3, 20, M))
    previous = state.means
    for _ in range(5):
        _, _, state = attention(torch.randn(3, Q), state)
        assert (state.means > previous).all()
        previous = state.means


def test_masked_softmax_is_softmax_over_the_kept_entries():
    energies = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    mask = torch.tensor([[True, True, False, True]])
    expected = torch.tensor([1.0, 2.0, 4.0]).softmax(-1)
    torch.testing.assert_close(masked_softmax(energies, mask)[0, [0, 1, 3]], expected)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda a: a.start(torch.randn(2, 5, M + 1)), "memory"),
        (lambda a: a.start(torch.randn(2, 5, M), torch.ones(2, 5)), "mask"),
        (lambda a: a.start(torch.randn(2, 5, M), torch.zeros(2, 5).bool()), "mask"),
        (lambda a: a(torch.randn(2, Q + 1), a.start(torch.randn(2, 5, M))), "query"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call(mechanism("location"))
    with pytest.raises(ValueError, match="kernel"):
        ATTENTIONS["location"](Q, M, kernel=4)


class CopyModel(nn.Module):
    """Encode a token sequence with a bidirectional GRU; a decoder GRU cell reads the last
    output token and the context and emits the next token: a copy task that can only be
    solved by attending to position i at step i."""

    def __init__(self, attention: str, tokens: int = 10, hidden: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(tokens + 1, hidden)  # the last id is the start token
        self.encoder = nn.GRU(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.cell = nn.GRUCell(2 * hidden, hidden)
        self.attention = ATTENTIONS[attention](query_dim=hidden, memory_dim=hidden)
        self.out = nn.Linear(2 * hidden, tokens)
        self.start_token = tokens

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, N = tokens.shape
        memory, _ = self.encoder(self.embed(tokens))
        state = self.attention.start(memory)
        h = memory.new_zeros(B, memory.shape[-1])
        context = memory.new_zeros(B, memory.shape[-1])
        previous = torch.full((B,), self.start_token, dtype=torch.long)
        logits, alignments = [], []
        for i in range(N):
            h = self.cell(torch.cat([self.embed(previous), context], -1), h)
            context, weights, state = self.attention(h, state)
            logits.append(self.out(torch.cat([h, context], -1)))
            alignments.append(weights)
            previous = tokens[:, i]  # teacher forcing
        return torch.stack(logits, 1), torch.stack(alignments, 1)


@pytest.mark.parametrize("name", ["location", "content"])
def test_a_copy_task_learns_a_monotone_diagonal_alignment(name):
    torch.manual_seed(0)
    model = CopyModel(name)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(500):
        tokens = torch.randint(10, (16, 12), generator=generator)
        logits, _ = model(tokens)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 10), tokens.reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        tokens = torch.randint(10, (32, 12), generator=generator)
        logits, alignments = model(tokens)
    accuracy = float((logits.argmax(-1) == tokens).float().mean())
    path = alignments.argmax(-1)  # [B, steps]
    diagonal = float((path == torch.arange(12)).float().mean())
    assert accuracy > 0.95 and diagonal > 0.9, (accuracy, diagonal)
    assert bool((path.diff(dim=1) >= 0).float().mean() > 0.95)  # steps forward, not back
