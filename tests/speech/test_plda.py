"""LDA, length normalisation, the two-covariance PLDA and cosine scoring (reparam.speech.plda)."""

import math
import warnings

import pytest
import torch
from torch.distributions import MultivariateNormal

from reparam.convergence import ConvergenceWarning
from reparam.speech.plda import LDA, PLDA, cosine_scores, length_normalize

D = 3


def random_covariance(generator: torch.Generator, scale: float) -> torch.Tensor:
    factor = torch.randn(D, D, generator=generator, dtype=torch.float64)
    return scale * (factor @ factor.T / D + 0.5 * torch.eye(D, dtype=torch.float64))


def two_covariance_data(n_speakers: int, seed: int, max_utterances: int = 6):
    """Embeddings drawn from x = μ + y + ε, y ~ N(0, between), ε ~ N(0, within), with 1 to
    ``max_utterances`` utterances a speaker; (x, labels, mean, between, within)."""
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(D, generator=generator, dtype=torch.float64)
    between = random_covariance(generator, 4.0)
    within = random_covariance(generator, 1.0)
    counts = torch.randint(1, max_utterances + 1, (n_speakers,), generator=generator)
    labels = torch.arange(n_speakers).repeat_interleave(counts)
    voices = torch.randn(n_speakers, D, generator=generator, dtype=torch.float64)
    noise = torch.randn(len(labels), D, generator=generator, dtype=torch.float64)
    x = mean + (voices @ torch.linalg.cholesky(between).T)[labels]
    x = x + noise @ torch.linalg.cholesky(within).T
    return x, labels, mean, between, within


def a_model(seed: int) -> PLDA:
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(D, generator=generator, dtype=torch.float64)
    return PLDA(
        mean, random_covariance(generator, 2.0), random_covariance(generator, 1.0), (), True
    )


def whitened_error(estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """C^{-1/2} Ĉ C^{-1/2} − I, whose entries have standard deviation √(2/n) (diagonal) or
    √(1/n) for a sample covariance Ĉ of n draws from N(0, C)."""
    values, vectors = torch.linalg.eigh(truth)
    root = vectors @ torch.diag(values.rsqrt()) @ vectors.T
    return root @ estimate @ root - torch.eye(D, dtype=torch.float64)


# -------------------------------------------------------------------------------- EM
def test_em_log_likelihood_never_decreases():
    x, labels, *_ = two_covariance_data(300, seed=0)
    plda = PLDA.fit(x, labels, tol=1e-10, max_iter=200)
    history = torch.tensor(plda.log_likelihoods, dtype=torch.float64)
    assert len(history) > 5 and plda.converged
    assert (history.diff() >= -1e-12).all()


def test_em_recovers_the_covariances():
    n_speakers = 4000
    x, labels, mean, between, within = two_covariance_data(n_speakers, seed=1)
    plda = PLDA.fit(x, labels)
    # Within: N − S degrees of freedom. Between: S speakers whose means carry the within
    # noise too, at worst (one utterance) within + between, so a whitened error inflated by
    # 1 + ‖between^{-1/2} within between^{-1/2}‖. Four standard deviations, √(2/n) each.
    within_tolerance = 4 * math.sqrt(2 / (len(labels) - n_speakers))
    inflation = 1 + float(torch.linalg.eigvalsh(torch.linalg.solve(between, within)).max())
    between_tolerance = 4 * math.sqrt(2 / n_speakers) * inflation
    assert whitened_error(plda.within_covariance, within).abs().max() < within_tolerance
    assert whitened_error(plda.between_covariance, between).abs().max() < between_tolerance
    # The precisions' whitened error is (I + E)^{-1} − I = −E + O(E²): a quarter more room.
    within_precision_error = whitened_error(plda.within_precision, torch.linalg.inv(within))
    assert within_precision_error.abs().max() < 1.25 * within_tolerance
    between_precision_error = whitened_error(plda.between_precision, torch.linalg.inv(between))
    assert between_precision_error.abs().max() < 1.25 * between_tolerance
    mean_tolerance = 4 * torch.sqrt((between + within).diag() / n_speakers)
    assert ((plda.mean - mean).abs() < mean_tolerance).all()


def brute_force_log_likelihood(plda: PLDA, x: torch.Tensor, labels: torch.Tensor) -> float:
    """Σ_i log N(vec X_i; 1 ⊗ μ, I ⊗ W⁻¹ + 11ᵀ ⊗ B⁻¹) over speakers, per utterance."""
    total = 0.0
    for speaker in labels.unique():
        utterances = x[labels == speaker]
        n = len(utterances)
        covariance = torch.kron(
            torch.eye(n, dtype=torch.float64), plda.within_covariance
        ) + torch.kron(torch.ones(n, n, dtype=torch.float64), plda.between_covariance)
        distribution = MultivariateNormal(plda.mean.repeat(n), covariance)
        total += float(distribution.log_prob(utterances.reshape(-1)))
    return total / len(x)


def test_log_likelihood_matches_the_stacked_gaussian():
    x, labels, *_ = two_covariance_data(20, seed=2, max_utterances=4)
    plda = a_model(3)
    assert plda.log_likelihood(x, labels) == pytest.approx(
        brute_force_log_likelihood(plda, x, labels), rel=1e-12
    )
    with pytest.warns(ConvergenceWarning):
        fitted = PLDA.fit(x, labels, max_iter=3, tol=1e-300)
    assert fitted.log_likelihoods[-1] <= fitted.log_likelihood(x, labels) + 1e-12


def test_stopping_at_max_iter_warns():
    x, labels, *_ = two_covariance_data(50, seed=4)
    with pytest.warns(ConvergenceWarning, match="PLDA.fit did not converge") as record:
        plda = PLDA.fit(x, labels, max_iter=2, tol=1e-12)
    assert not plda.converged and len(plda.log_likelihoods) == 2
    assert record[0].filename == __file__


def test_converged_fit_does_not_warn():
    x, labels, *_ = two_covariance_data(50, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert PLDA.fit(x, labels).converged


def test_speakers_with_one_utterance_are_fine():
    x, labels, *_ = two_covariance_data(300, seed=5, max_utterances=2)
    counts = torch.bincount(labels)
    assert (counts == 1).sum() > 100
    plda = PLDA.fit(x, labels)
    assert plda.converged
    assert (torch.tensor(plda.log_likelihoods).diff() >= -1e-12).all()


# --------------------------------------------------------------------------- scoring
def brute_force_llr(plda: PLDA, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """log N([x1; x2]; [μ; μ], same) − log N([x1; x2]; [μ; μ], different) with the joint
    covariances written out: the speaker variable is shared or independent."""
    between, total = plda.between_covariance, plda.between_covariance + plda.within_covariance
    same = torch.cat([torch.cat([total, between], 1), torch.cat([between, total], 1)])
    different = torch.block_diag(total, total)
    pair, mean = torch.cat([x1, x2]), plda.mean.repeat(2)
    return MultivariateNormal(mean, same).log_prob(pair) - MultivariateNormal(
        mean, different
    ).log_prob(pair)


def test_llr_matches_the_joint_gaussians():
    plda = a_model(6)
    generator = torch.Generator().manual_seed(7)
    x = 2 * torch.randn(6, D, generator=generator, dtype=torch.float64)
    for x1, x2 in zip(x[:3], x[3:], strict=True):
        torch.testing.assert_close(plda.llr(x1, x2), brute_force_llr(plda, x1, x2))


def test_batched_scores_equal_a_loop_and_are_symmetric():
    plda = a_model(8)
    generator = torch.Generator().manual_seed(9)
    enrol = torch.randn(5, D, generator=generator, dtype=torch.float64)
    test = torch.randn(7, D, generator=generator, dtype=torch.float64)
    loop = torch.stack([torch.stack([plda.llr(e, t) for t in test]) for e in enrol])
    torch.testing.assert_close(plda.llr_matrix(enrol, test), loop)
    torch.testing.assert_close(plda.llr(enrol[:, None], test[None]), loop)
    torch.testing.assert_close(plda.llr(enrol, test[:5]), plda.llr(test[:5], enrol))
    square = plda.llr_matrix(test, test)
    torch.testing.assert_close(square, square.T)


def test_fitted_plda_separates_speakers():
    x, labels, *_ = two_covariance_data(200, seed=10, max_utterances=4)
    plda = PLDA.fit(x, labels)
    scores = plda.llr_matrix(x, x)
    same = labels[:, None] == labels[None]
    off_diagonal = ~torch.eye(len(x), dtype=torch.bool)
    assert scores[same & off_diagonal].mean() > 0 > scores[~same].mean()


# ------------------------------------------------------------------------------- LDA
def test_lda_whitens_the_within_speaker_covariance():
    x, labels, *_ = two_covariance_data(30, seed=11)
    x = torch.cat([x, torch.randn(len(x), 2, dtype=torch.float64)], 1)  # 5 dimensions
    lda = LDA.fit(x, labels, dim=4)
    z = lda.transform(x)
    means = torch.stack([z[labels == s].mean(0) for s in range(30)])
    residual = z - means[labels]
    identity = torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(residual.T @ residual / len(z), identity)
    counts = torch.bincount(labels).double()
    spread = (means - z.mean(0)) * counts.sqrt().unsqueeze(1)
    torch.testing.assert_close(spread.T @ spread / len(z), torch.diag(lda.eigenvalues))
    assert (lda.eigenvalues.diff() <= 0).all()


def test_lda_dimension_defaults_to_the_rank_of_the_between_scatter():
    x, labels, *_ = two_covariance_data(3, seed=12)
    assert LDA.fit(x, labels).projection.shape == (D, 2)
    with pytest.raises(ValueError, match=r"dim must be at most min\(D, speakers - 1\) = 2"):
        LDA.fit(x, labels, dim=3)


# -------------------------------------------------------------------- norms and cosine
def test_length_normalize():
    x = torch.randn(10, 4, dtype=torch.float64)
    torch.testing.assert_close(
        length_normalize(x, radius=2.0).norm(dim=-1), torch.full((10,), 2.0, dtype=x.dtype)
    )
    with pytest.raises(ValueError, match="all-zero embedding"):
        length_normalize(torch.zeros(2, 3))


def test_cosine_scores():
    enrol, test = torch.randn(4, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    matrix = cosine_scores(enrol[:, None], test[None])
    expected = (enrol / enrol.norm(dim=1, keepdim=True)) @ (test / test.norm(dim=1, keepdim=True)).T
    torch.testing.assert_close(matrix, expected)
    torch.testing.assert_close(cosine_scores(enrol, 3 * enrol), torch.ones(4, dtype=enrol.dtype))


# ---------------------------------------------------------------------- argument checks
def test_bad_inputs():
    x = torch.randn(6, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="labels must name at least 2 speakers, got 1"):
        LDA.fit(x, [0] * 6)
    with pytest.raises(ValueError, match="labels must name at least 2 speakers"):
        PLDA.fit(x, [0] * 6)
    with pytest.raises(ValueError, match=r"labels must hold one speaker per embedding \(6\)"):
        PLDA.fit(x, [0, 1])
    with pytest.raises(ValueError, match="embeddings must be a non-empty"):
        PLDA.fit(x[:, 0], [0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="embeddings must be finite"):
        PLDA.fit(torch.full((6, 2), math.nan), [0, 0, 0, 1, 1, 1])
    with pytest.raises(TypeError, match="embeddings must be a floating-point tensor"):
        LDA.fit(torch.ones(6, 2, dtype=torch.long), [0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="PLDA needs more utterances"):
        PLDA.fit(x[:2], [0, 1])
    with pytest.raises(ValueError, match="LDA needs at least D = 2 more utterances"):
        LDA.fit(x[:3], [0, 0, 1])  # N − S = 1 < D = 2
    collinear = torch.cat([x[:, :1], 2 * x[:, :1]], 1)
    with pytest.raises(ValueError, match="within-speaker covariance is singular"):
        LDA.fit(collinear, [0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        PLDA.fit(x, [0, 0, 0, 1, 1, 1], max_iter=0)
    with pytest.raises(ValueError, match="enrol must have 3 entries in its last dimension"):
        a_model(0).llr(x, x)
