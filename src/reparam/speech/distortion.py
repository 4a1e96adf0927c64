r"""How far a synthesized spectrogram is from its target: dynamic time warping, mel-cepstral
distortion and the per-band global variance.

**DTW.** For a cost matrix :math:`C \in \mathbb R^{T_1 \times T_2}`,
:math:`D_{ij} = C_{ij} + \min(D_{i-1,j}, D_{i,j-1}, D_{i-1,j-1})` with :math:`D_{00} = C_{00}`;
:func:`dtw` returns :math:`D_{T_1 T_2}` and the path from (0, 0) to :math:`(T_1-1, T_2-1)`.
It is computed an anti-diagonal at a time (each depends only on the two before), so the
Python loop has :math:`T_1 + T_2` iterations of vector operations.

**MCD.** The mel-cepstrum of a frame is the cepstrum of its log amplitude on the mel axis:
with the K bands' natural-log mel amplitudes :math:`a_b` (half the log power mel frames) at
the warped frequencies :math:`ω_b = π (b + ½) / K`,
:math:`a_b = c_0 + 2 \sum_{d ≥ 1} c_d \cos(d ω_b)`, so that
:math:`c_d = \frac1K \sum_b a_b \cos(d ω_b)`, the orthonormal DCT-II over
:math:`\sqrt{2K}` (the scale of SPTK's cepstra, whose coefficients do not grow with the number
of bands). With coefficients :math:`c_{t,1:D}` (coefficient 0, the energy, left out as is
usual), the distortion in dB over the DTW path :math:`\mathcal P` of the Euclidean frame
cost is (Kubichek 1993)

.. math:: \mathrm{MCD} = \frac{10}{\ln 10} \frac{1}{|\mathcal P|} \sum_{(i,j) \in \mathcal P}
          \sqrt{2 \sum_{d=1}^{D} (c_{i,d} - \hat c_{j,d})^2}.

These cepstra come from the mel filterbank energies, not from the mel-generalised analysis
(SPTK's ``mcep``) that published MCDs use: the scale is the same, the smoothing differs, so
figures compare with papers' only roughly.

**Global variance.** Each band's variance over frames (Toda & Tokuda 2007): over-smoothed
predictions have less of it than the target.

References:
    Kubichek (1993), Mel-cepstral distance measure for objective speech quality assessment,
    IEEE PACRIM.
    Sakoe & Chiba (1978), Dynamic programming algorithm optimization for spoken word
    recognition, IEEE Trans. ASSP 26(1).
    Toda & Tokuda (2007), A speech parameter generation algorithm considering global variance
    for HMM-based speech synthesis, IEICE Trans. Inf. & Syst. E90-D(5).

Example:
    >>> x = torch.randn(80, 50, dtype=torch.float64)
    >>> float(mel_cepstral_distortion(x, x))
    0.0
    >>> cost, path = dtw(torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]))
    >>> float(cost), path.tolist()
    (0.0, [[0, 0], [1, 1], [2, 1]])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reparam import checks
from reparam.speech.features import dct_matrix

DB_PER_NEPER = 10.0 / math.log(10.0)


def dtw(cost: Tensor) -> tuple[Tensor, Tensor]:
    """The accumulated cost of the cheapest monotone path through ``cost`` ``[T1, T2]`` (steps
    right, down or diagonal) and that path, ``[L, 2]`` index pairs from (0, 0) to the end."""
    checks.tensor("cost", cost)
    if cost.dim() != 2 or 0 in cost.shape:
        raise ValueError(f"cost must be a non-empty [T1, T2] matrix, got shape {tuple(cost.shape)}")
    T1, T2 = cost.shape
    inf = torch.tensor(math.inf, dtype=cost.dtype)
    total = torch.full((T1 + 1, T2 + 1), math.inf, dtype=cost.dtype)
    total[0, 0] = 0.0
    c = cost.detach().cpu()
    for k in range(T1 + T2 - 1):  # the cells with i + j = k
        i = torch.arange(max(0, k - T2 + 1), min(T1, k + 1))
        j = k - i
        best = torch.minimum(torch.minimum(total[i, j + 1], total[i + 1, j]), total[i, j])
        total[i + 1, j + 1] = c[i, j] + best
    path = [(T1 - 1, T2 - 1)]
    i, j = T1, T2
    while (i, j) != (1, 1):
        moves = [(i - 1, j - 1), (i - 1, j), (i, j - 1)]
        values = [total[a, b] if a >= 1 and b >= 1 else inf for a, b in moves]
        i, j = moves[int(torch.stack(values).argmin())]
        path.append((i - 1, j - 1))
    return total[T1, T2].to(cost.device), torch.tensor(path[::-1], device=cost.device)


def mel_cepstra(log_mel: Tensor, coefficients: int = 13) -> Tensor:
    r"""Cepstral coefficients 1 … ``coefficients`` (module docstring: the orthonormal DCT-II
    over :math:`\sqrt{2K}`) of the log amplitudes of natural-log power mel frames
    ``[..., n_mels, frames]`` (half their values), as ``[..., frames, coefficients]``."""
    checks.tensor("log_mel", log_mel)
    coefficients = checks.positive_int("coefficients", coefficients)
    bands = log_mel.shape[-2]
    if coefficients >= bands:
        raise ValueError(f"coefficients must be below n_mels = {bands}, got {coefficients}")
    basis = dct_matrix(coefficients + 1, bands, dtype=log_mel.dtype, device=log_mel.device)
    return (basis[1:] @ (0.5 * log_mel)).transpose(-1, -2) / math.sqrt(2 * bands)


def mel_cepstral_distortion(
    predicted: Tensor, target: Tensor, coefficients: int = 13, align: bool = True
) -> Tensor:
    """The MCD in dB (module docstring) between log-mel spectrograms ``[n_mels, frames]``
    of possibly different lengths, aligned by DTW on the cepstra; with ``align=False`` the
    frames already correspond (same length), and the path is the diagonal :math:`(t, t)`.

    >>> x = torch.linspace(-1, 1, 80 * 30, dtype=torch.float64).reshape(80, 30)
    >>> float(mel_cepstral_distortion(x, x, align=False))
    0.0
    >>> mel_cepstral_distortion(x, x[:, 1:], align=False)
    Traceback (most recent call last):
        ...
    ValueError: align=False needs frames that correspond: predicted (80, 30), target (80, 29)
    """
    for name, value in (("predicted", predicted), ("target", target)):
        checks.tensor(name, value)
        if value.dim() != 2:
            raise ValueError(f"{name} must be [n_mels, frames], got shape {tuple(value.shape)}")
    if predicted.shape[0] != target.shape[0]:
        raise ValueError(f"predicted has {predicted.shape[0]} bands, target {target.shape[0]}")
    a, b = mel_cepstra(target, coefficients), mel_cepstra(predicted, coefficients)
    if not align:
        if predicted.shape != target.shape:
            raise ValueError(
                f"align=False needs frames that correspond: predicted {tuple(predicted.shape)}, "
                f"target {tuple(target.shape)}"
            )
        return DB_PER_NEPER * math.sqrt(2.0) * (a - b).norm(dim=-1).mean()
    distances = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
    _, path = dtw(distances)
    return DB_PER_NEPER * math.sqrt(2.0) * distances[path[:, 0], path[:, 1]].mean()


def global_variance(log_mel: Tensor, frames: int | None = None) -> Tensor:
    """Each band's variance over the first ``frames`` frames (all by default) of
    ``[..., n_mels, frames]``."""
    checks.tensor("log_mel", log_mel)
    if frames is not None:
        log_mel = log_mel[..., : checks.positive_int("frames", frames)]
    return log_mel.var(dim=-1, unbiased=False)
