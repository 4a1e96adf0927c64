"""Exact discrete-latent inference: ``reparam.latent`` against scikit-learn, hmmlearn and torch.

Three side-by-side comparisons, each selectable with ``--only``:

- ``gmm``: ``reparam.latent.GaussianMixture`` against ``sklearn.mixture.GaussianMixture``.
  Data: 100 000 × 10 draws from a fixed-seed mixture of 16 Gaussians (``--gmm-n``,
  ``--gmm-d``, ``--gmm-k``). Both fit K = 16 full-covariance components in float64 by exactly
  20 EM iterations (``tol=0, max_iter=20``, ``reg_covar=1e-6``) from the same initial weights
  (uniform), means (K data points drawn at random) and precisions (the inverse covariance of
  the whole data set, for every component). Both are told ``init="random"`` so that the
  initialisation they run and then discard is one cheap M step from random responsibilities
  (scikit-learn's default, k-means, would time a k-means fit). scikit-learn runs one more E
  step after the loop (to make ``fit_predict`` consistent). Reported: the wall time of
  ``fit``, sklearn ÷ ours (higher = reparam faster), and the difference of the final lower
  bounds (mean log-likelihood per sample before the last M step, as both define it) and of
  the fitted means.
- ``hmm``: ``reparam.latent.hmm`` against hmmlearn's ``CategoricalHMM``. 1 000 sequences of
  T = 500 symbols (20 symbols, K = 10 states) sampled from a fixed random HMM, and both
  evaluate that same HMM in float64. "posteriors": ours ``posteriors`` (forward, backward,
  γ, and the expected transition counts, which hmmlearn's calls do not compute) batched over
  the sequences ``[B, T, K]``, the emission look-up included; hmmlearn ``score`` +
  ``predict_proba`` on the concatenated sequences with ``lengths`` (its forward pass runs
  twice). "viterbi": ours ``HMM.decode`` (the same model, observations in, paths out) against
  hmmlearn ``decode``, the ratio's pair; beside them ``viterbi`` on a [B, T, K] table of
  emissions computed beforehand, compiled (numba) and, where numba is installed, the eager
  recursion that runs without it. Reported: times,
  hmmlearn ÷ ours (higher = reparam faster), the difference of the total log-likelihoods,
  the largest difference of γ, and the share of Viterbi states that agree. On CUDA ours runs
  on the GPU, hmmlearn on the CPU.
- ``ctc``: ``reparam.latent.ctc_loss`` against ``torch.nn.functional.ctc_loss``, forward and
  backward in float32 on the same device: log-softmax of a leaf ``[T, N, C]`` of logits, the
  loss (``reduction="mean"``), and its backward pass to the logits (the gradients of the two
  agree there; those w.r.t. the log-probabilities differ by a term log-softmax's backward
  removes). Configurations (T, N, C, S): (100, 32, 30, 20) and (400, 64, 50, 80); input
  lengths drawn in [0.8 T, T], target lengths in [S/2, S]. Reported: median times, ours ÷
  torch (lower = reparam faster), the largest difference of the per-sequence losses and of
  the gradients.

Timing: every contender of a comparison is warmed up, then ``--repeats`` rounds (default 5
for GMM and HMM, 20 for CTC) time each once, the order rotating from round to round, so that
load from elsewhere falls on all alike; on CUDA the device is synchronized before each clock
reading. A contender's time is the median over the rounds; the ratios compare medians.
``--threads`` sets torch's threads and, through threadpoolctl, those of NumPy's BLAS and
OpenMP pools (so scikit-learn and hmmlearn get the same number).

scikit-learn and hmmlearn are optional (``pip install scikit-learn hmmlearn``); without one,
its rows are missing and the output says why.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/latent.py --threads 1    # everything, ~3 min on a CPU
    python benchmarks/latent.py --quick                          # smoke test, small sizes
    python benchmarks/latent.py --only ctc --device cuda

It writes ``DIR/latent.json`` (settings, machine, library versions, every round's time and
the agreement checks) and ``DIR/latent.md`` (the tables, also printed); DIR defaults to
``benchmarks/results``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from machine_info import cores, machine
from timing import (
    available,
    import_peer,
    interleaved,
    positive,
    ratio,
    thread_limits,
    timing,
)

from reparam.convergence import ConvergenceWarning as ReparamConvergenceWarning
from reparam.latent import HMM, GaussianMixture, ctc_loss, posteriors, viterbi, viterbi_compiled
from reparam.latent.forward_backward import _viterbi_eager, lengths_mask
from reparam.train.distributed import resolve_device

COMPARISONS = ("gmm", "hmm", "ctc")
SEED = 0

GMM_N, GMM_D, GMM_K, GMM_ITERATIONS = 100_000, 10, 16, 20
REG_COVAR = 1e-6
HMM_SEQUENCES, HMM_LENGTH, HMM_STATES, HMM_SYMBOLS = 1000, 500, 10, 20
CTC_CONFIGS = ((100, 32, 30, 20), (400, 64, 50, 80))  # (T, N, C, S)
REPEATS = {"gmm": 5, "hmm": 5, "ctc": 20}
WARMUP = {"gmm": 1, "hmm": 1, "ctc": 3}

# --quick: small sizes, few rounds.
QUICK_GMM = (5_000, 10, 16)
QUICK_HMM = (50, 100)
QUICK_CTC = ((50, 8, 20, 10),)
QUICK_REPEATS = 2
QUICK_WARMUP = 1


# ---------------------------------------------------------------------------- peers


# ---------------------------------------------------------------------------- (1) GMM


def gmm_data(n: int, d: int, k: int) -> np.ndarray:
    """``n`` draws from a fixed random mixture of ``k`` Gaussians in ``d`` dimensions."""
    rng = np.random.default_rng(SEED)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.normal(0.0, 4.0, size=(k, d))
    factors = rng.normal(0.0, 1.0, size=(k, d, d)) / math.sqrt(d) + np.eye(d)
    labels = rng.choice(k, size=n, p=weights)
    noise = rng.normal(size=(n, d))
    return means[labels] + np.einsum("nij,nj->ni", factors[labels], noise)


def gmm_initial(X: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Uniform weights, ``k`` data points as means, the data's precision for every component."""
    rng = np.random.default_rng(SEED + 1)
    d = X.shape[1]
    covariance = np.cov(X, rowvar=False) + REG_COVAR * np.eye(d)
    precision = np.linalg.inv(covariance)
    precision = 0.5 * (precision + precision.T)
    return {
        "weights_init": np.full(k, 1.0 / k),
        "means_init": X[rng.choice(X.shape[0], size=k, replace=False)].copy(),
        "precisions_init": np.repeat(precision[None], k, axis=0),
    }


def run_gmm(
    args: argparse.Namespace, device: torch.device, sklearn_found: str
) -> dict[str, object]:
    n, d, k = QUICK_GMM if args.quick else (args.gmm_n, args.gmm_d, args.gmm_k)
    iterations = GMM_ITERATIONS
    X = gmm_data(n, d, k)
    init = gmm_initial(X, k)
    X_ours = torch.as_tensor(X, device=device)
    init_ours = {name: torch.as_tensor(value, device=device) for name, value in init.items()}
    fitted: dict[str, object] = {}

    def ours() -> None:
        model = GaussianMixture(
            k,
            covariance_type="full",
            tol=0.0,
            max_iter=iterations,
            reg_covar=REG_COVAR,
            init="random",
            seed=SEED,
            device=device,
        )
        with warnings.catch_warnings():  # tol = 0 asks for exactly `iterations` iterations
            warnings.simplefilter("ignore", ReparamConvergenceWarning)
            fitted["reparam"] = model.fit(X_ours, **init_ours)

    contenders = {"reparam GaussianMixture": (ours, device)}
    if available(sklearn_found):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

        def sklearn() -> None:
            model = SklearnGaussianMixture(
                k,
                covariance_type="full",
                tol=0.0,
                max_iter=iterations,
                reg_covar=REG_COVAR,
                init_params="random",
                random_state=SEED,
                **init,
            )
            with warnings.catch_warnings():  # tol=0 never converges, by design
                warnings.simplefilter("ignore", ConvergenceWarning)
                fitted["sklearn"] = model.fit(X)

        contenders["sklearn GaussianMixture"] = (sklearn, torch.device("cpu"))

    repeats, warmup = repeats_warmup(args, "gmm")
    rounds = interleaved(contenders, repeats, warmup)
    cpu = torch.device("cpu")
    times = {
        name: timing(r, device if name.startswith("reparam") else cpu) for name, r in rounds.items()
    }
    ours_model = fitted["reparam"]
    result: dict[str, object] = {
        "settings": {
            "n": n,
            "d": d,
            "k": k,
            "covariance_type": "full",
            "em_iterations": iterations,
            "reg_covar": REG_COVAR,
            "dtype": "float64",
            "repeats": repeats,
            "warmup": warmup,
        },
        "times": times,
        "reparam_n_iter": ours_model.n_iter_,  # type: ignore[attr-defined]
        "reparam_lower_bound": ours_model.lower_bound_,  # type: ignore[attr-defined]
    }
    if "sklearn" in fitted:
        sk = fitted["sklearn"]
        ours_means = ours_model.means_.cpu().numpy()  # type: ignore[attr-defined]
        result |= {
            "sklearn_n_iter": int(sk.n_iter_),  # type: ignore[attr-defined]
            "sklearn_lower_bound": float(sk.lower_bound_),  # type: ignore[attr-defined]
            "lower_bound_difference": ours_model.lower_bound_  # type: ignore[attr-defined]
            - float(sk.lower_bound_),  # type: ignore[attr-defined]
            "means_max_abs_difference": float(np.abs(ours_means - sk.means_).max()),  # type: ignore[attr-defined]
            "sklearn_over_reparam": ratio(
                times["sklearn GaussianMixture"], times["reparam GaussianMixture"]
            ),
        }
    return result


# ---------------------------------------------------------------------------- (2) HMM


def random_hmm(k: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """π [k], A [k, k] (sticky: 0.5 extra mass on the diagonal) and B [k, m], fixed-seed."""
    rng = np.random.default_rng(SEED + 2)
    pi = rng.dirichlet(np.ones(k))
    A = 0.5 * rng.dirichlet(np.ones(k), size=k) + 0.5 * np.eye(k)
    B = rng.dirichlet(np.full(m, 0.5), size=k)
    return pi, A, B


def sample_hmm(
    pi: np.ndarray, A: np.ndarray, B: np.ndarray, sequences: int, length: int
) -> np.ndarray:
    """Symbols [sequences, length] (int64), all sequences drawn together step by step."""
    rng = np.random.default_rng(SEED + 3)
    cum_A, cum_B = A.cumsum(1), B.cumsum(1)

    def draw(cumulative: np.ndarray) -> np.ndarray:  # one categorical draw per row
        u = rng.random(cumulative.shape[0])[:, None]
        return np.minimum((cumulative < u).sum(1), cumulative.shape[1] - 1)

    x = np.empty((sequences, length), dtype=np.int64)
    z = draw(np.broadcast_to(pi.cumsum(), (sequences, pi.size)))
    for t in range(length):
        if t:
            z = draw(cum_A[z])
        x[:, t] = draw(cum_B[z])
    return x


def run_hmm(
    args: argparse.Namespace, device: torch.device, hmmlearn_found: str
) -> dict[str, object]:
    if args.quick:
        sequences, length = QUICK_HMM
    else:
        sequences, length = args.hmm_sequences, args.hmm_length
    k, m = args.hmm_states, args.hmm_symbols
    pi, A, B = random_hmm(k, m)
    x = sample_hmm(pi, A, B, sequences, length)
    cpu = torch.device("cpu")

    log_pi = torch.as_tensor(np.log(pi), device=device)
    log_A = torch.as_tensor(np.log(A), device=device)
    log_B_T = torch.as_tensor(np.log(B).T.copy(), device=device)  # [m, k]
    x_ours = torch.as_tensor(x, device=device)
    lengths_ours = torch.full((sequences,), length, dtype=torch.long, device=device)
    out: dict[str, object] = {}

    def ours_posteriors() -> None:
        log_b = log_B_T[x_ours]  # [B, T, K]
        out["ours_posteriors"] = posteriors(log_pi, log_A, log_b, lengths_ours)

    model_ours = HMM(k, "categorical", n_symbols=m, dtype=torch.float64).to(device)
    model_ours.set_params(pi=pi, A=A, emissionprob=B)
    log_b_given = log_B_T[x_ours]
    mask = lengths_mask(lengths_ours, sequences, length, device)

    def ours_decode() -> None:
        out["ours_viterbi"] = model_ours.decode(x_ours, lengths_ours)

    def ours_viterbi_given() -> None:
        viterbi(log_pi, log_A, log_b_given, lengths_ours)

    def ours_viterbi_eager() -> None:
        _viterbi_eager(log_pi, log_A, log_b_given, mask)

    posterior_contenders = {"reparam posteriors": (ours_posteriors, device)}
    viterbi_contenders = {
        "reparam HMM.decode": (ours_decode, device),
        "reparam viterbi, log b given": (ours_viterbi_given, device),
    }
    if device.type == "cpu" and viterbi_compiled.available():
        viterbi_contenders["reparam viterbi eager (no numba), log b given"] = (
            ours_viterbi_eager,
            device,
        )
    if available(hmmlearn_found):
        from hmmlearn.hmm import CategoricalHMM

        model = CategoricalHMM(n_components=k, n_features=m, init_params="", params="")
        model.startprob_, model.transmat_, model.emissionprob_ = pi, A, B
        X_flat = x.reshape(-1, 1)
        lengths = [length] * sequences

        def hmmlearn_posteriors() -> None:
            out["hmmlearn_score"] = model.score(X_flat, lengths)
            out["hmmlearn_gamma"] = model.predict_proba(X_flat, lengths)

        def hmmlearn_decode() -> None:
            out["hmmlearn_decode"] = model.decode(X_flat, lengths)

        posterior_contenders["hmmlearn score + predict_proba"] = (hmmlearn_posteriors, cpu)
        viterbi_contenders["hmmlearn decode"] = (hmmlearn_decode, cpu)

    repeats, warmup = repeats_warmup(args, "hmm")
    with torch.no_grad():
        rounds = interleaved(posterior_contenders, repeats, warmup)
        rounds |= interleaved(viterbi_contenders, repeats, warmup)
    times = {
        name: timing(r, device if name.startswith("reparam") else cpu) for name, r in rounds.items()
    }
    gamma, _, ll = out["ours_posteriors"]  # type: ignore[misc]
    path, score = out["ours_viterbi"]  # type: ignore[misc]
    result: dict[str, object] = {
        "settings": {
            "sequences": sequences,
            "length": length,
            "states": k,
            "symbols": m,
            "dtype": "float64",
            "repeats": repeats,
            "warmup": warmup,
        },
        "times": times,
        "reparam_total_log_likelihood": float(ll.sum()),
        "reparam_total_viterbi_log_probability": float(score.sum()),
    }
    if "hmmlearn_score" in out:
        hmm_gamma = np.asarray(out["hmmlearn_gamma"]).reshape(sequences, length, k)
        hmm_logprob, hmm_states = out["hmmlearn_decode"]  # type: ignore[misc]
        agree = (path.cpu().numpy().reshape(-1) == np.asarray(hmm_states)).mean()
        result |= {
            "hmmlearn_total_log_likelihood": float(out["hmmlearn_score"]),  # type: ignore[arg-type]
            "total_log_likelihood_abs_difference": abs(
                float(ll.sum()) - float(out["hmmlearn_score"])  # type: ignore[arg-type]
            ),
            "gamma_max_abs_difference": float(np.abs(gamma.cpu().numpy() - hmm_gamma).max()),
            "hmmlearn_total_viterbi_log_probability": float(hmm_logprob),
            "viterbi_log_probability_abs_difference": abs(float(score.sum()) - hmm_logprob),
            "viterbi_states_agreeing": float(agree),
            "hmmlearn_over_reparam_posteriors": ratio(
                times["hmmlearn score + predict_proba"], times["reparam posteriors"]
            ),
            "hmmlearn_over_reparam_viterbi": ratio(
                times["hmmlearn decode"], times["reparam HMM.decode"]
            ),
        }
    return result


# ---------------------------------------------------------------------------- (3) CTC


def ctc_inputs(
    T: int, N: int, C: int, S: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits [T, N, C] (float32), padded targets [N, S] in [1, C), input and target lengths."""
    generator = torch.Generator().manual_seed(SEED + 4)
    logits = torch.randn(T, N, C, generator=generator)
    targets = torch.randint(1, C, (N, S), generator=generator)
    input_lengths = torch.randint(max(1, (4 * T) // 5), T + 1, (N,), generator=generator)
    input_lengths[0] = T
    target_lengths = torch.randint(max(1, S // 2), S + 1, (N,), generator=generator)
    target_lengths[0] = S
    return (
        logits.to(device),
        targets.to(device),
        input_lengths.to(device),
        target_lengths.to(device),
    )


def run_ctc_config(
    T: int, N: int, C: int, S: int, repeats: int, warmup: int, device: torch.device
) -> dict[str, object]:
    logits, targets, input_lengths, target_lengths = ctc_inputs(T, N, C, S, device)
    implementations = {"reparam ctc_loss": ctc_loss, "torch F.ctc_loss": F.ctc_loss}
    leaves = {name: logits.clone().requires_grad_() for name in implementations}

    def step(name: str) -> Callable[[], None]:
        loss_fn, leaf = implementations[name], leaves[name]

        def run() -> None:
            leaf.grad = None
            log_probs = leaf.log_softmax(2)
            loss_fn(log_probs, targets, input_lengths, target_lengths).backward()

        return run

    rounds = interleaved({name: (step(name), device) for name in implementations}, repeats, warmup)
    times = {name: timing(r, device) for name, r in rounds.items()}

    # agreement, outside the clock: per-sequence losses and the gradients of the mean loss
    losses, grads = {}, {}
    for name, loss_fn in implementations.items():
        leaf = logits.clone().requires_grad_()
        log_probs = leaf.log_softmax(2)
        per_sequence = loss_fn(log_probs, targets, input_lengths, target_lengths, reduction="none")
        (per_sequence / target_lengths.clamp_min(1)).mean().backward()
        losses[name], grads[name] = per_sequence.detach(), leaf.grad
    ours, theirs = "reparam ctc_loss", "torch F.ctc_loss"
    return {
        "T": T,
        "N": N,
        "C": C,
        "S": S,
        "times": times,
        "reparam_over_torch": ratio(times[ours], times[theirs]),
        "loss_max_abs_difference": float((losses[ours] - losses[theirs]).abs().max()),
        "loss_max_relative_difference": float(
            ((losses[ours] - losses[theirs]).abs() / losses[theirs].abs()).max()
        ),
        "grad_max_abs_difference": float((grads[ours] - grads[theirs]).abs().max()),
    }


def run_ctc(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    configs = QUICK_CTC if args.quick else CTC_CONFIGS
    repeats, warmup = repeats_warmup(args, "ctc")
    return {
        "settings": {"dtype": "float32", "repeats": repeats, "warmup": warmup},
        "configs": [run_ctc_config(*c, repeats, warmup, device) for c in configs],
    }


# ---------------------------------------------------------------------------- output


def ms(t: dict[str, object]) -> str:
    return f"{t['median_s'] * 1e3:,.1f} ({t['min_s'] * 1e3:,.1f}–{t['max_s'] * 1e3:,.1f})"  # type: ignore[operator]


def time_rows(times: dict[str, dict[str, object]], reference: str, label: str) -> list[str]:
    rows = []
    for name, t in times.items():
        relative = ratio(times[reference], t) if reference in times else math.nan
        rows.append(f"| {name} | {t['device']} | {ms(t)} | {relative:.2f} |")
    return [
        f"| contender | device | ms: median (min–max) | {label} |",
        "|---|---|---:|---:|",
        *rows,
    ]


def gmm_markdown(r: dict[str, object], sklearn_found: str) -> list[str]:
    s: dict[str, object] = r["settings"]  # type: ignore[assignment]
    lines = [
        f"### GMM: {s['n']:,} × {s['d']}, K = {s['k']}, full covariance, "
        f"{s['em_iterations']} EM iterations (tol = 0), float64",
        "",
        *time_rows(r["times"], "sklearn GaussianMixture", "sklearn ÷ this (time)"),  # type: ignore[arg-type]
        "",
    ]
    if "sklearn_over_reparam" in r:
        lines.append(
            f"Summary: sklearn ÷ reparam = {r['sklearn_over_reparam']:.2f} (higher = reparam "
            f"faster); iterations {r['reparam_n_iter']} / {r['sklearn_n_iter']}; lower bounds "
            f"{r['reparam_lower_bound']:.10f} / {r['sklearn_lower_bound']:.10f}, difference "
            f"{r['lower_bound_difference']:.2e}; means differ by at most "
            f"{r['means_max_abs_difference']:.2e}."
        )
    else:
        lines.append(f"Summary: scikit-learn not timed, {sklearn_found}.")
    return [*lines, ""]


def hmm_markdown(r: dict[str, object], hmmlearn_found: str) -> list[str]:
    s: dict[str, object] = r["settings"]  # type: ignore[assignment]
    times: dict[str, dict[str, object]] = r["times"]  # type: ignore[assignment]
    post = {n: t for n, t in times.items() if "decode" not in n and "viterbi" not in n}
    vit = {n: t for n, t in times.items() if n not in post}
    label = "hmmlearn ÷ this (time)"
    lines = [
        f"### HMM: {s['sequences']:,} sequences × T = {s['length']}, K = {s['states']} states, "
        f"{s['symbols']} symbols, float64",
        "",
        "Log-likelihood and posteriors γ:",
        "",
        *time_rows(post, "hmmlearn score + predict_proba", label),
        "",
        "Viterbi:",
        "",
        *time_rows(vit, "hmmlearn decode", label),
        "",
    ]
    if "hmmlearn_over_reparam_posteriors" in r:
        lines.append(
            f"Summary: hmmlearn ÷ reparam = {r['hmmlearn_over_reparam_posteriors']:.2f} "
            f"(posteriors), {r['hmmlearn_over_reparam_viterbi']:.2f} (Viterbi) (higher = "
            f"reparam faster); total log-likelihood {r['reparam_total_log_likelihood']:.6f}, "
            f"differs by {r['total_log_likelihood_abs_difference']:.2e}; γ differs by at most "
            f"{r['gamma_max_abs_difference']:.2e}; Viterbi log-probabilities differ by "
            f"{r['viterbi_log_probability_abs_difference']:.2e}, states agree at "
            f"{100 * r['viterbi_states_agreeing']:.4f}% of the steps."  # type: ignore[operator]
        )
    else:
        lines.append(f"Summary: hmmlearn not timed, {hmmlearn_found}.")
    return [*lines, ""]


def ctc_markdown(r: dict[str, object]) -> list[str]:
    lines = ["### CTC: forward + backward, float32, reduction mean", ""]
    lines += [
        "| T | N | C | S | contender | device | ms: median (min–max) | this ÷ torch (time) |",
        "|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    summaries = []
    for c in r["configs"]:  # type: ignore[attr-defined]
        times = c["times"]
        for name, t in times.items():
            lines.append(
                f"| {c['T']} | {c['N']} | {c['C']} | {c['S']} | {name} | {t['device']} "
                f"| {ms(t)} | {ratio(t, times['torch F.ctc_loss']):.2f} |"
            )
        summaries.append(
            f"T={c['T']} N={c['N']} C={c['C']} S={c['S']}: reparam ÷ torch = "
            f"{c['reparam_over_torch']:.2f}, losses differ by at most "
            f"{c['loss_max_abs_difference']:.2e} (relative {c['loss_max_relative_difference']:.1e}),"
            f" gradients by {c['grad_max_abs_difference']:.2e}"
        )
    lines += ["", f"Summary (lower = reparam faster): {'; '.join(summaries)}.", ""]
    return lines


def markdown(report: dict[str, object]) -> str:
    info: dict[str, object] = report["machine"]  # type: ignore[assignment]
    peers: dict[str, str] = report["peers"]  # type: ignore[assignment]
    peer_text = ", ".join(
        f"{name} {found if available(found) else 'not importable'}" for name, found in peers.items()
    )
    lines = [
        f"Exact discrete-latent inference, reparam against its peers, on {info['device']} "
        f"({info['device_name']}), torch {info['torch']}, {info['threads']} threads; "
        f"{peer_text}.",
        "Median over interleaved rounds after warm-up; ratios compare medians.",
        "",
    ]
    results: dict[str, dict[str, object]] = report["results"]  # type: ignore[assignment]
    if "gmm" in results:
        lines += gmm_markdown(results["gmm"], peers["scikit-learn"])
    if "hmm" in results:
        lines += hmm_markdown(results["hmm"], peers["hmmlearn"])
    if "ctc" in results:
        lines += ctc_markdown(results["ctc"])
    missing = [f"{name} {why}" for name, why in peers.items() if not available(why)]
    if missing:
        lines += [f"Not timed: {'; '.join(missing)}.", ""]
    lines.append(f"Total time: {report['elapsed_s']:.0f} s.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main


def repeats_warmup(args: argparse.Namespace, comparison: str) -> tuple[int, int]:
    if args.quick:
        return args.repeats or QUICK_REPEATS, QUICK_WARMUP
    return args.repeats or REPEATS[comparison], WARMUP[comparison]


def comparisons(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(COMPARISONS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {','.join(COMPARISONS)}, got {text!r}")
    return [c for c in COMPARISONS if c in chosen]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", type=comparisons, default=list(COMPARISONS), help="e.g. gmm,hmm,ctc"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds: a smoke test")
    parser.add_argument(
        "--repeats", type=positive, default=None, help="rounds (default 5 GMM/HMM, 20 CTC)"
    )
    parser.add_argument("--gmm-n", type=positive, default=GMM_N)
    parser.add_argument("--gmm-d", type=positive, default=GMM_D)
    parser.add_argument("--gmm-k", type=positive, default=GMM_K)
    parser.add_argument("--hmm-sequences", type=positive, default=HMM_SEQUENCES)
    parser.add_argument("--hmm-length", type=positive, default=HMM_LENGTH)
    parser.add_argument("--hmm-states", type=positive, default=HMM_STATES)
    parser.add_argument("--hmm-symbols", type=positive, default=HMM_SYMBOLS)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=positive, default=None, help="default: the cores usable")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    threads = args.threads or cores()
    torch.set_num_threads(threads)
    device = resolve_device(args.device)
    start = time.perf_counter()

    peers = {}
    if "gmm" in args.only:
        peers["scikit-learn"] = import_peer("sklearn.mixture", "scikit-learn")[1]
    if "hmm" in args.only:
        peers["hmmlearn"] = import_peer("hmmlearn.hmm", "hmmlearn")[1]
    for name, why in peers.items():
        if not available(why):
            print(f"{name} is not importable, so its rows are skipped: {why}")

    results: dict[str, object] = {}
    with thread_limits(threads):
        if "gmm" in args.only:
            print("GMM …", flush=True)
            results["gmm"] = run_gmm(args, device, peers["scikit-learn"])
        if "hmm" in args.only:
            print("HMM …", flush=True)
            results["hmm"] = run_hmm(args, device, peers["hmmlearn"])
        if "ctc" in args.only:
            print("CTC …", flush=True)
            results["ctc"] = run_ctc(args, device)

    report: dict[str, object] = {
        "machine": machine(device),
        "numpy": np.__version__,
        "peers": peers,
        "settings": {"only": args.only, "quick": args.quick, "threads": threads},
        "results": results,
    }
    report["elapsed_s"] = round(time.perf_counter() - start, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latent.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / "latent.md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()
