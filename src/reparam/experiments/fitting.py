"""The logic of ``reparam fit``: read a table (a CSV file or a UCI set), fit a Gaussian mixture
or a hidden Markov model to chosen columns, and write the parameters, per-row labels and a
picture; and a toy CTC task whose alignment lattice is drawn."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reparam.data.uci import load_uci
from reparam.latent.ctc import ctc_loss, greedy_decode
from reparam.latent.gmm import GaussianMixture
from reparam.latent.hmm import HMM
from reparam.plots.latent import plot_ctc_alignment, plot_mixture, plot_states

UCI_COLUMNS = {
    "power": [
        "ambient temperature (°C)",
        "exhaust vacuum (cm Hg)",
        "ambient pressure (mbar)",
        "relative humidity (%)",
        "net electrical output (MW)",
    ],
    "naval": [
        "lever position",
        "ship speed (knots)",
        "GT shaft torque (kN m)",
        "GT rate of revolutions (rpm)",
        "gas generator rate of revolutions (rpm)",
        "starboard propeller torque (kN)",
        "port propeller torque (kN)",
        "HP turbine exit temperature (°C)",
        "GT compressor inlet air temperature (°C)",
        "GT compressor outlet air temperature (°C)",
        "HP turbine exit pressure (bar)",
        "GT compressor inlet air pressure (bar)",
        "GT compressor outlet air pressure (bar)",
        "GT exhaust gas pressure (bar)",
        "turbine injection control (%)",
        "fuel flow (kg/s)",
        "GT turbine decay state coefficient",
    ],
}
"""Column names of the UCI sets whose columns the worked examples plot (inputs, then target)."""


@dataclass
class Table:
    """Numeric data [N, D] with a name per column."""

    data: np.ndarray
    names: list[str]
    source: str


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_csv(path: str | Path) -> Table:
    """A numeric CSV file (comma, semicolon, tab or whitespace separated). A first row with a
    non-numeric field is taken as a header; any other non-numeric field is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    text = path.read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise ValueError(f"{path}: the file holds no rows")
    first = lines[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    if delimiter is None:
        rows = [line.split() for line in lines]
    else:
        rows = [
            [field.strip() for field in row]
            for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
        ]
    header = None
    if any(_number(field) is None for field in rows[0]):
        header, rows = rows[0], rows[1:]
    if not rows:
        raise ValueError(f"{path}: the file holds a header but no data rows")
    width = len(header) if header is not None else len(rows[0])
    data = np.empty((len(rows), width))
    offset = 2 if header is not None else 1
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"{path}: line {i + offset} has {len(row)} fields, expected {width}")
        for j, field in enumerate(row):
            value = _number(field)
            if value is None:
                raise ValueError(
                    f"{path}: line {i + offset}, column {j}: {field!r} is not a number"
                )
            data[i, j] = value
    if not np.isfinite(data).all():
        i, j = np.argwhere(~np.isfinite(data))[0]
        raise ValueError(f"{path}: line {i + offset}, column {j}: NaN or infinite value")
    names = (
        [h or f"x{j}" for j, h in enumerate(header)] if header else [f"x{j}" for j in range(width)]
    )
    return Table(data, names, str(path))


def load_table(source: str, data_dir: str | Path | None = None) -> Table:
    """``uci:NAME`` (the set's inputs, then its target, as columns) or a CSV file."""
    if source.startswith("uci:"):
        ds = load_uci(source, data_dir)
        data = torch.cat([ds.x, ds.y[:, None]], 1).numpy()
        names = [f"x{j}" for j in range(ds.x.shape[1])] + ["y"]
        known = UCI_COLUMNS.get(ds.name)
        if known is not None and len(known) == len(names):
            names = [f"{name}: {label}" for name, label in zip(names, known, strict=True)]
        return Table(data, names, source)
    return read_csv(source)


def parse_columns(text: str | None, table: Table) -> list[int]:
    """``"0,2"`` (indices, negative from the end) or header names; all columns when empty."""
    width = table.data.shape[1]
    if not text:
        return list(range(width))
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if re.fullmatch(r"-?\d+", item):
            j = int(item)
            if not -width <= j < width:
                raise ValueError(f"column {j} is out of range: {table.source} has {width}")
            out.append(j % width)
        elif item in table.names:
            out.append(table.names.index(item))
        else:
            raise ValueError(f"no column {item!r} in {table.source}: {', '.join(table.names)}")
    if not out:
        raise ValueError(f"no columns in {text!r}")
    return out


def parse_rows(text: str | None, n: int) -> slice:
    """``"300"`` (the first 300 rows) or ``"100:400"``; all rows when empty."""
    if not text:
        return slice(0, n)
    m = re.fullmatch(r"\s*(\d*)\s*(?::\s*(\d*)\s*)?", text)
    if not m or (m.group(1) == "" and m.group(2) in (None, "")):
        raise ValueError(f"rows must be N or START:STOP, got {text!r}")
    if m.group(2) is None:
        return slice(0, int(m.group(1)))
    return slice(int(m.group(1) or 0), int(m.group(2)) if m.group(2) else n)


def select(
    source: str, columns: str | None, rows: str | None, data_dir: str | Path | None
) -> tuple[np.ndarray, list[str], Table, slice]:
    table = load_table(source, data_dir)
    chosen = parse_columns(columns, table)
    part = parse_rows(rows, len(table.data))
    X = table.data[part][:, chosen]
    return X, [table.names[j] for j in chosen], table, part


def _check(K: int, n: int, what: str, minimum: int) -> None:
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"the number of {what} must be at least 1, got {K}")
    if n < max(minimum, K):
        raise ValueError(f"too few rows: {n}; fitting {K} {what} needs at least {max(minimum, K)}")


def _write_labels(path: Path, header: str, labels: np.ndarray, probability: np.ndarray) -> None:
    lines = [header] + [
        f"{k},{p:.4f}" for k, p in zip(labels.tolist(), probability.tolist(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def match_states(states: np.ndarray, reference: np.ndarray) -> tuple[float, dict[int, float]]:
    """Map each state to the reference value it co-occurs with most (majority vote) and return
    the fraction of rows where the mapped state equals the reference, and the mapping."""
    states, reference = np.asarray(states), np.asarray(reference)
    mapping = {}
    for k in np.unique(states):
        values, counts = np.unique(reference[states == k], return_counts=True)
        mapping[int(k)] = float(values[counts.argmax()])
    mapped = np.array([mapping[int(k)] for k in states])
    return float((mapped == reference).mean()), mapping


def fit_gmm(
    source: str,
    components: int,
    covariance: str = "full",
    columns: str | None = None,
    rows: str | None = None,
    max_iter: int = 200,
    tol: float = 1e-3,
    seed: int = 0,
    out: str | Path = "runs/fit-gmm",
    data_dir: str | Path | None = None,
    labels: bool = True,
) -> dict:
    """Fit a K-component mixture by EM; write params.json, labels.csv and mixture.png to
    ``out``; return a summary."""
    if not isinstance(components, int) or components < 1:
        raise ValueError(f"the number of components must be at least 1, got {components}")
    X, names, _, _ = select(source, columns, rows, data_dir)
    _check(components, len(X), "components", 2)
    start = time.perf_counter()
    gmm = GaussianMixture(
        components, covariance_type=covariance, tol=tol, max_iter=max_iter, seed=seed
    ).fit(X)
    seconds = time.perf_counter() - start
    Xt = torch.from_numpy(X)
    resp = gmm.predict_proba(Xt)
    confidence, assigned = resp.max(1)
    per_row = gmm.score(Xt)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = {
        "model": "gmm",
        "source": source,
        "columns": names,
        "rows": len(X),
        "components": components,
        "covariance_type": covariance,
        "weights": gmm.weights_.tolist(),
        "means": gmm.means_.tolist(),
        "covariances": gmm.covariances_.tolist(),
        "log_likelihood_per_row": per_row,
        "log_likelihood": per_row * len(X),
        "bic": gmm.bic(Xt),
        "history": list(gmm.history),
        "iterations": gmm.n_iter_,
        "converged": bool(gmm.converged_),
        "seed": seed,
    }
    (out / "params.json").write_text(json.dumps(params, indent=2) + "\n")
    if labels:
        _write_labels(
            out / "labels.csv",
            "component,responsibility",
            assigned.numpy(),
            confidence.numpy(),
        )
    history = [*gmm.history, per_row]
    plot_mixture(
        X,
        assigned.numpy(),
        gmm.weights_.numpy(),
        gmm.means_.numpy(),
        gmm.covariances_.numpy(),
        history,
        out / "mixture.png",
        names=names,
    )
    return {
        "log_likelihood_per_row": per_row,
        "iterations": gmm.n_iter_,
        "converged": bool(gmm.converged_),
        "rows": len(X),
        "seconds": seconds,
        "out": str(out),
    }


def _gaussian_start(X: np.ndarray, states: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial means and variances of a Gaussian HMM from a diagonal mixture's EM fit."""
    gmm = GaussianMixture(states, covariance_type="diag", max_iter=100, seed=seed).fit(X)
    return gmm.means_.numpy(), gmm.covariances_.numpy()


def fit_hmm(
    source: str,
    states: int,
    emission: str = "gaussian",
    columns: str | None = None,
    rows: str | None = None,
    n_iter: int = 100,
    tol: float = 1e-4,
    seed: int = 0,
    out: str | Path = "runs/fit-hmm",
    data_dir: str | Path | None = None,
    compare_column: str | None = None,
    restarts: int = 1,
) -> dict:
    """Fit an HMM by Baum–Welch to the chosen rows, in file order, as one sequence; write
    params.json, labels.csv and states.png to ``out``; return a summary. Gaussian emissions
    are fitted to standardised columns (the means and variances are reported in the data's
    units) from a diagonal mixture's components; categorical emissions take one column of
    symbols 0…M−1. ``compare_column`` (a column of the table) scores the Viterbi states
    against it after majority-vote matching. ``restarts`` fits from seeds ``seed``,
    ``seed + 1``, … and keeps the one of highest likelihood."""
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    if not isinstance(states, int) or states < 1:
        raise ValueError(f"the number of states must be at least 1, got {states}")
    if emission not in ("gaussian", "categorical"):
        raise ValueError(f"emission must be gaussian or categorical, got {emission!r}")
    X, names, table, part = select(source, columns, rows, data_dir)
    _check(states, len(X), "states", 2)
    reference, reference_name = None, None
    if compare_column is not None:
        j = parse_columns(compare_column, table)[0]
        reference, reference_name = table.data[part][:, j], table.names[j]
    start = time.perf_counter()
    if emission == "categorical":
        if X.shape[1] != 1:
            raise ValueError(f"categorical emissions take one column of symbols, got {len(names)}")
        symbols = X[:, 0]
        if (symbols != np.round(symbols)).any() or (symbols < 0).any():
            raise ValueError("categorical emissions need non-negative integer symbols")
        x = torch.from_numpy(symbols.astype(np.int64))
        centre, scale = np.zeros(1), np.ones(1)
    else:
        centre, scale = X.mean(0), X.std(0)
        scale = np.where(scale > 0, scale, 1.0)
        Z = (X - centre) / scale
        x = torch.from_numpy(Z)

    def one(seed: int) -> HMM:
        if emission == "categorical":
            n_symbols = int(symbols.max()) + 1
            hmm = HMM(states, "categorical", n_symbols=n_symbols, dtype=torch.float64, seed=seed)
        else:
            hmm = HMM(states, "gaussian", dim=X.shape[1], dtype=torch.float64, seed=seed)
            means, variances = _gaussian_start(Z, states, seed)
            hmm.set_params(means=means, variances=np.maximum(variances, 1e-4))
        return hmm.fit(x, n_iter=n_iter, tol=tol)

    fits = [one(seed + i) for i in range(restarts)]
    with torch.no_grad():
        finals = [float(h.log_likelihood(x)) for h in fits]
    best = int(np.argmax(finals))
    hmm = fits[best]
    seconds = time.perf_counter() - start
    history = list(hmm.history_)
    converged = len(history) > 1 and history[-1] - history[-2] < tol
    gamma, _, ll = hmm.posteriors(x)
    path, _ = hmm.viterbi(x)
    gamma, path, total = gamma[0].numpy(), path[0].numpy(), float(ll[0])
    if emission == "gaussian":  # the density of the data in its own units
        total -= len(X) * float(np.log(scale).sum())
        history = [h - len(X) * float(np.log(scale).sum()) for h in history]
        finals = [f - len(X) * float(np.log(scale).sum()) for f in finals]
    T = len(X)
    params: dict = {
        "model": "hmm",
        "source": source,
        "columns": names,
        "rows": T,
        "states": states,
        "emission": emission,
        "pi": hmm.log_pi.exp().tolist(),
        "A": hmm.log_A.exp().tolist(),
    }
    if emission == "gaussian":
        params["means"] = (hmm.means.detach().numpy() * scale + centre).tolist()
        params["variances"] = (hmm.variances.detach().numpy() * scale**2).tolist()
    else:
        params["emissionprob"] = hmm.log_emission.exp().tolist()
    params |= {
        "log_likelihood": total,
        "log_likelihood_per_row": total / T,
        "history": history,
        "iterations": len(history),
        "converged": converged,
        "seed": seed + best,
        "restarts": restarts,
        "restart_log_likelihoods": finals,
    }
    summary = {
        "log_likelihood_per_row": total / T,
        "iterations": len(history),
        "converged": converged,
        "rows": T,
        "seconds": seconds,
    }
    if reference is not None:
        agreement, mapping = match_states(path, reference)
        params["comparison"] = {
            "column": reference_name,
            "agreement": agreement,
            "state_to_value": {str(k): v for k, v in mapping.items()},
        }
        summary["agreement"] = agreement
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.json").write_text(json.dumps(params, indent=2) + "\n")
    _write_labels(out / "labels.csv", "state,posterior", path, gamma.max(1))
    plot_states(
        X[:, 0],
        path,
        gamma,
        history,
        out / "states.png",
        name=names[0],
        reference=reference,
        reference_name=reference_name or "reference",
        transitions=np.asarray(params["A"]),
    )
    summary["out"] = str(out)
    return summary


# ------------------------------------------------------------------------------ the CTC toy


def toy_ctc_batch(
    n: int, labels: int, generator: torch.Generator, noise: float = 0.7
) -> tuple[torch.Tensor, list[list[int]], torch.Tensor]:
    """``n`` sequences of 2–5 labels from 1…``labels``: each label lasts 1–3 frames, blank
    gaps of 0–2 frames lie between (at least 1 between equal neighbours) and 0–2 at both ends;
    a frame is the one-hot code of its class (blank = 0) plus N(0, noise²) noise. Returns the
    padded frames [T, n, labels + 1], the targets and the frame counts."""
    C = labels + 1
    seqs, targets = [], []
    for _ in range(n):
        length = int(torch.randint(2, 6, (1,), generator=generator))
        target = (torch.randint(1, C, (length,), generator=generator)).tolist()
        frames: list[int] = [0] * int(torch.randint(0, 3, (1,), generator=generator))
        for i, k in enumerate(target):
            if i > 0:
                gap = int(torch.randint(0, 3, (1,), generator=generator))
                frames += [0] * max(gap, 1 if target[i - 1] == k else 0)
            frames += [k] * int(torch.randint(1, 4, (1,), generator=generator))
        frames += [0] * int(torch.randint(0, 3, (1,), generator=generator))
        seqs.append(frames)
        targets.append(target)
    lengths = torch.tensor([len(s) for s in seqs])
    T = int(lengths.max())
    x = torch.zeros(T, n, C)
    for i, frames in enumerate(seqs):
        x[torch.arange(len(frames)), i, torch.tensor(frames)] = 1.0
    x = x + noise * torch.randn(x.shape, generator=generator)
    return x, targets, lengths


def _edit_distance(a: list[int], b: list[int]) -> int:
    row = list(range(len(b) + 1))
    for i, p in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, q in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (p != q))
    return row[-1]


def label_error_rate(decoded: list[list[int]], targets: list[list[int]]) -> float:
    """Total edit distance over total target length."""
    errors = sum(_edit_distance(d, t) for d, t in zip(decoded, targets, strict=True))
    return errors / max(1, sum(len(t) for t in targets))


def ctc_toy_demo(
    out: str | Path = "docs/results/latent",
    steps: int = 400,
    labels: int = 4,
    batch: int = 32,
    hidden: int = 32,
    noise: float = 0.3,
    seed: int = 0,
) -> dict:
    """Train a per-frame MLP (a 3-frame convolution, tanh, a linear layer, log-softmax) with
    :func:`~reparam.latent.ctc.ctc_loss` on :func:`toy_ctc_batch` sequences for ``steps`` Adam
    steps; decode 200 held-out sequences greedily; write ``ctc-alignment.png`` (γ_t(s) of a
    held-out sequence) to ``out`` and return the label error rates and losses."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    C = labels + 1
    model = torch.nn.Sequential(
        torch.nn.Conv1d(C, hidden, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv1d(hidden, C, 1)
    )

    def log_probs(x: torch.Tensor) -> torch.Tensor:  # [T, N, C] → [T, N, C]
        return model(x.permute(1, 2, 0)).permute(2, 0, 1).log_softmax(-1)

    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    test_x, test_targets, test_lengths = toy_ctc_batch(200, labels, gen, noise)
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        x, targets, lengths = toy_ctc_batch(batch, labels, gen, noise)
        padded = torch.zeros(batch, max(map(len, targets)), dtype=torch.long)
        for i, t in enumerate(targets):
            padded[i, : len(t)] = torch.tensor(t)
        loss = ctc_loss(log_probs(x), padded, lengths, [len(t) for t in targets])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - start
    with torch.no_grad():
        lp = log_probs(test_x)
    decoded = greedy_decode(lp, test_lengths)
    ler = label_error_rate(decoded, test_targets)
    exact = sum(d == t for d, t in zip(decoded, test_targets, strict=True)) / len(decoded)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    longest = int(torch.argmax(test_lengths))
    n = int(test_lengths[longest])
    plot_ctc_alignment(lp[:n, longest], test_targets[longest], out / "ctc-alignment.png")
    return {
        "label_error_rate": ler,
        "sequence_accuracy": exact,
        "first_loss": losses[0],
        "final_loss": float(np.mean(losses[-20:])),
        "steps": steps,
        "seconds": seconds,
        "out": str(out / "ctc-alignment.png"),
        "example_target": test_targets[longest],
        "example_decoded": decoded[longest],
    }


def summary_line(kind: str, result: dict) -> str:
    """One line for the console."""
    if kind == "ctc":
        return (
            f"ctc toy: {result['steps']} steps in {result['seconds']:.1f} s, loss "
            f"{result['first_loss']:.3f} → {result['final_loss']:.3f}; held-out label error "
            f"rate {100 * result['label_error_rate']:.2f} %, sequences exact "
            f"{100 * result['sequence_accuracy']:.1f} %; wrote {result['out']}"
        )
    text = (
        f"{kind}: log-likelihood per row {result['log_likelihood_per_row']:.4f} over "
        f"{result['rows']} rows, {result['iterations']} iterations"
        f"{'' if result['converged'] else ' (not converged)'}"
    )
    if "agreement" in result:
        text += f", agreement with the reference {100 * result['agreement']:.1f} %"
    if math.isfinite(result.get("seconds", math.nan)):
        text += f" in {result['seconds']:.1f} s"
    return text + f"; wrote {result['out']}"
