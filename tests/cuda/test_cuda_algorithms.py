"""The algorithms on a GPU: gradients where they belong, and the same numbers as on the CPU."""

from __future__ import annotations

import copy

import pytest
import torch

import reparam as rp
from reparam.bayes import BayesLinear, kl, predict
from reparam.latent import HMM, GaussianMixture, ctc_loss
from reparam.models import VAE
from reparam.train.compile import maybe_compile
from reparam.train.distributed import resolve_device
from reparam.transport import emd_1d, sinkhorn, sinkhorn_unbalanced

pytestmark = pytest.mark.cuda
CPU = torch.device("cpu")


def test_devices_resolve_to_the_gpu(gpu) -> None:
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_expect_is_unbiased_on_the_device(device) -> None:
    n = 200_000
    mu = torch.tensor(0.0, device=device, requires_grad=True)
    for estimator in ("pathwise", "score+leave-one-out"):
        mu.grad = None
        q = torch.distributions.Normal(mu, torch.tensor(1.0, device=device))
        rp.expect(lambda z: (z - 3) ** 2, q, n=n, estimator=estimator).backward()
        assert mu.grad.device.type == device.type
        # d/dmu E[(z-3)^2] = 2 (mu - 3) = -6; per-sample sd below 20 for both estimators
        assert abs(mu.grad.item() + 6) < 5 * 20 / n**0.5, (estimator, mu.grad.item())
    logits = torch.zeros(64, 10, device=device, requires_grad=True)
    cat = torch.distributions.Categorical(logits=logits)
    rp.expect(lambda z: (z - 3.0) ** 2, cat, estimator="enumerate").sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.device.type == device.type


def test_iwae_bounds_and_their_gradients_on_the_device(device) -> None:
    model = VAE(64).to(device)
    x = torch.rand(32, 64, device=device).lt(0.5).float()
    for estimator in ("pathwise", "dreg"):
        model.zero_grad()
        bound = model.bound(x, objective="iwae", k=5, estimator=estimator)
        assert bound.shape == (32,) and bound.device.type == device.type
        (-bound.mean()).backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)


def test_the_log_joint_is_the_same_on_the_device_and_on_the_cpu(device) -> None:
    model = VAE(64).double()
    x = torch.rand(16, 64, dtype=torch.float64).lt(0.5).double()
    z = torch.randn(5, 16, 50, dtype=torch.float64)
    on_device = copy.deepcopy(model).to(device)
    torch.testing.assert_close(
        on_device.log_joint(x.to(device), z.to(device)).cpu(),
        model.log_joint(x, z),
        rtol=1e-10,
        atol=1e-9,
    )


def test_hmm_and_ctc_agree_with_the_cpu(device) -> None:
    hmm = HMM(4, "categorical", n_symbols=6, dtype=torch.float64, seed=0)
    x = torch.randint(0, 6, (8, 50))
    lengths = torch.randint(20, 51, (8,))
    on_device = copy.deepcopy(hmm).to(device)
    torch.testing.assert_close(
        on_device.log_likelihood(x.to(device), lengths.to(device)).cpu(),
        hmm.log_likelihood(x, lengths),
        rtol=1e-10,
        atol=1e-9,
    )
    paths, _ = on_device.decode(x.to(device), lengths.to(device))
    assert torch.equal(paths.cpu(), hmm.decode(x, lengths)[0])

    logits = torch.randn(40, 4, 7, dtype=torch.float64)
    targets = torch.randint(1, 7, (4, 12))
    losses = []
    for where in (CPU, device):
        leaf = logits.clone().to(where).requires_grad_()
        loss = ctc_loss(leaf.log_softmax(-1), targets.to(where), [40] * 4, [12] * 4)
        loss.backward()
        losses.append((loss.detach().cpu(), leaf.grad.cpu()))
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-8, atol=1e-10)


def test_sinkhorn_agrees_with_the_cpu(device) -> None:
    x, y = torch.rand(300, 2, dtype=torch.float64), torch.rand(300, 2, dtype=torch.float64)
    C = torch.cdist(x, y) ** 2
    a = torch.full((300,), 1 / 300, dtype=torch.float64)
    on_cpu = sinkhorn(a, a, C, eps=0.01)
    on_device = sinkhorn(a.to(device), a.to(device), C.to(device), eps=0.01)
    assert on_cpu.converged and on_device.converged
    torch.testing.assert_close(on_device.cost.cpu(), on_cpu.cost, rtol=1e-8, atol=0.0)


def test_bayesian_layers_on_the_device(device) -> None:
    x = torch.randn(64, 8, device=device)
    for estimator in ("weight", "local", "flipout", "separate"):
        net = torch.nn.Sequential(
            BayesLinear(8, 16, estimator=estimator), torch.nn.ReLU(), BayesLinear(16, 3)
        ).to(device)
        out = net(x)
        assert out.shape == (64, 3) and out.device.type == device.type
        (out.sum() + kl(net)).backward()
    p = predict(net, x, samples=10, task="classification")
    assert p.probs.device.type == device.type
    torch.testing.assert_close(p.probs.sum(-1), torch.ones(64, device=device))


def test_compiled_and_eager_agree_within_float_tolerance(device) -> None:
    model = VAE(64).to(device)
    x = torch.rand(32, 64, device=device).lt(0.5).float()
    z = torch.randn(5, 32, 50, device=device)
    eager = model.log_joint(x, z)
    compiled = maybe_compile(model.log_joint, True)(x, z)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)


def test_the_peers_options_agree_with_the_cpu(device) -> None:
    """Issue 12's additions on the device: the mixture's tied covariances, a full-covariance
    HMM's scaled posteriors, unbalanced Sinkhorn, the 1-D plan and CTC's unbatched form."""
    g = torch.Generator().manual_seed(0)
    X = torch.cat([torch.randn(200, 2, generator=g) - 3, torch.randn(200, 2, generator=g) + 3])
    X = X.double()
    fits = [
        GaussianMixture(2, covariance_type="tied", seed=0, device=where).fit(X.to(where))
        for where in (CPU, device)
    ]
    torch.testing.assert_close(fits[1].means_.cpu(), fits[0].means_, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(
        fits[1].covariances_.cpu(), fits[0].covariances_, rtol=1e-8, atol=1e-10
    )

    hmm = HMM(2, "gaussian", dim=2, covariance="full", dtype=torch.float64, seed=0)
    x = X.reshape(4, 100, 2)
    on_device = copy.deepcopy(hmm).to(device)
    for got, want in zip(on_device.posteriors(x.to(device)), hmm.posteriors(x), strict=True):
        torch.testing.assert_close(got.cpu(), want, rtol=1e-9, atol=1e-9)

    C = torch.cdist(X[:50], X[50:110]) ** 2 / 50
    ours = [
        sinkhorn_unbalanced(None, None, C.to(where), eps=0.1, reg_m=1.0) for where in (CPU, device)
    ]
    torch.testing.assert_close(ours[1].plan.cpu(), ours[0].plan, rtol=1e-8, atol=1e-12)
    lines = [emd_1d(X[:30, 0].to(where), X[30:70, 0].to(where)) for where in (CPU, device)]
    torch.testing.assert_close(lines[1].cost.cpu(), lines[0].cost, rtol=1e-10, atol=0.0)

    log_probs = torch.randn(30, 5, generator=g).log_softmax(-1)
    target = torch.randint(1, 5, (8,), generator=g)
    losses = [ctc_loss(log_probs.to(where), target.to(where), 30, 8) for where in (CPU, device)]
    assert losses[1].dim() == 0
    torch.testing.assert_close(losses[1].cpu(), losses[0], rtol=1e-5, atol=1e-6)
