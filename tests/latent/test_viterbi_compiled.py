"""The compiled CPU Viterbi (numba) against the eager recursion it replaces, bit for bit, and
the HMM's block-streamed decode against the one-table call."""

import math

import pytest
import torch

from reparam.latent import HMM, hmm, viterbi, viterbi_compiled
from reparam.latent.forward_backward import _viterbi_eager, lengths_mask

pytest.importorskip("numba")


def eager(log_pi, log_A, log_b, lengths):
    B, T = log_b.shape[:2]
    mask = lengths_mask(lengths, B, T)
    path, score = _viterbi_eager(log_pi, log_A, log_b, mask)
    return path.masked_fill(~mask | (score == -math.inf)[:, None], -1), score


def random_problem(gen, B, T, K, dtype, zeros=False, ties=False):
    log_pi = torch.randn(K, generator=gen).log_softmax(0).to(dtype)
    log_A = torch.randn(K, K, generator=gen).log_softmax(1).to(dtype)
    log_b = torch.randn(B, T, K, generator=gen).to(dtype)
    if zeros:  # structural zeros, some sequences no path explains
        log_A[torch.rand(K, K, generator=gen) < 0.3] = -math.inf
        log_b[torch.rand(B, T, K, generator=gen) < 0.2] = -math.inf
    if ties:
        log_pi, log_A, log_b = log_pi.round(), log_A.round(), log_b.round()
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    return log_pi, log_A, log_b, lengths


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["plain", "zeros", "ties"])
def test_the_compiled_kernel_equals_the_eager_recursion_bit_for_bit(dtype, kind):
    gen = torch.Generator().manual_seed(0)
    unexplained = 0
    for _ in range(40):
        B, T, K = (int(torch.randint(1, n, (), generator=gen)) for n in (11, 25, 7))
        problem = random_problem(gen, B, T, K, dtype, kind == "zeros", kind == "ties")
        path, score = viterbi(*problem)
        want_path, want_score = eager(*problem)
        assert torch.equal(path, want_path)
        assert torch.equal(score, want_score)
        assert score.dtype == dtype
        unexplained += int((score == -math.inf).sum())
    if kind == "zeros":
        assert unexplained > 0  # the −1 paths of sequences no path explains were compared


def test_the_kernel_is_the_cpu_path_when_numba_is_installed(monkeypatch):
    called = []
    real = viterbi_compiled.viterbi_compiled
    monkeypatch.setattr(
        viterbi_compiled, "viterbi_compiled", lambda *a: called.append(1) or real(*a)
    )
    gen = torch.Generator().manual_seed(1)
    problem = random_problem(gen, 5, 7, 3, torch.float64)
    with_kernel = viterbi(*problem)
    assert called
    monkeypatch.setattr(viterbi_compiled, "available", lambda: False)
    without = viterbi(*problem)
    assert len(called) == 1
    assert torch.equal(with_kernel[0], without[0]) and torch.equal(with_kernel[1], without[1])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_nan_or_inf_emission_at_a_valid_step_raises_naming_it(bad):
    log_pi, log_A = torch.zeros(2).log_softmax(0), torch.zeros(2, 2).log_softmax(1)
    log_b = torch.zeros(3, 5, 2)
    log_b[1, 2, 0] = bad
    with pytest.raises(ValueError, match=r"log_b .* at index \[1, 2, 0\]"):
        viterbi(log_pi, log_A, log_b)
    log_b[1, 2, 0] = 0.0
    log_b[1, 4, 1] = bad  # beyond sequence 1's length: ignored
    path, score = viterbi(log_pi, log_A, log_b, [5, 4, 5])
    assert bool(torch.isfinite(score).all())
    assert path[1, 4] == -1


def test_the_streamed_decode_equals_one_call_on_the_whole_table(monkeypatch):
    monkeypatch.setattr(hmm, "_VITERBI_BLOCK_ELEMENTS", 7 * 3 * 4)  # blocks of 4 sequences
    model = HMM(3, "gaussian", dim=2, dtype=torch.float64, seed=0)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(11, 7, 2, generator=gen, dtype=torch.float64)
    lengths = torch.randint(1, 8, (11,), generator=gen)
    path, score = model.decode(x, lengths)
    with torch.no_grad():
        x_valid = x.masked_fill(~lengths_mask(lengths, 11, 7)[..., None], 0.0)
        want = viterbi(model.log_pi, model.log_A, model.emission_log_prob(x_valid), lengths)
    assert torch.equal(path, want[0])
    assert torch.equal(score, want[1])


def test_half_precision_takes_the_eager_path():
    gen = torch.Generator().manual_seed(3)
    log_pi, log_A, log_b, lengths = random_problem(gen, 6, 9, 3, torch.float64)
    assert viterbi_compiled.applies(log_b) and not viterbi_compiled.applies(log_b.half())
    path, score = viterbi(log_pi.half(), log_A.half(), log_b.half(), lengths)
    want_path, want_score = eager(log_pi.half(), log_A.half(), log_b.half(), lengths)
    assert torch.equal(path, want_path) and torch.equal(score, want_score)
    assert score.dtype == torch.float16
