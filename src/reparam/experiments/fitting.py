r"""``reparam fit gmm|hmm``: a Gaussian mixture or a hidden Markov model fitted to chosen columns
of a table (a numeric CSV file or a UCI set), its parameters, per-row labels and a picture
written to an output folder.

The mixture is fitted by EM (:class:`reparam.latent.GaussianMixture`), maximising
:math:`\sum_n \log \sum_k \pi_k \mathcal N(x_n \mid \mu_k, \Sigma_k)`; the HMM by Baum–Welch
(:class:`reparam.latent.HMM`), maximising :math:`\log p(x_{1:T})` of the rows, in file order,
as one sequence (Rabiner 1989).

These fits are not trainers of the run engine (:mod:`reparam.train`): EM and Baum–Welch run to
convergence in seconds, with no epochs worth checkpointing or resuming, so a fit is one call
that writes ``params.json``, ``labels.csv`` and its picture, and returns a frozen result
(:class:`GMMFit`, :class:`HMMFit`). A folder that already holds a fit is refused unless
``overwrite``. The CTC demo, which does train, is :mod:`reparam.experiments.ctc_demo`.

Example:
    >>> import tempfile, numpy as np
    >>> folder = Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> data = np.concatenate([rng.normal(-5, 1, (50, 2)), rng.normal(5, 1, (50, 2))])
    >>> np.savetxt(folder / "points.csv", data, delimiter=",", header="a,b", comments="")
    >>> fit = fit_gmm(str(folder / "points.csv"), 2, out=folder / "gmm")
    >>> fit.rows, fit.converged, sorted(round(m[0]) for m in fit.means)
    (100, True, [-5, 5])
    >>> sorted(p.name for p in (folder / "gmm").iterdir())
    ['labels.csv', 'mixture.png', 'params.json']
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reparam.convergence import ConvergenceWarning
from reparam.data.files import read_text
from reparam.data.uci import load_uci
from reparam.latent.gmm import COVARIANCE_TYPES, GaussianMixture
from reparam.latent.hmm import HMM

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

EMISSIONS = ("gaussian", "categorical")
GMM_FILES = ("params.json", "labels.csv", "mixture.png")
HMM_FILES = ("params.json", "labels.csv", "states.png")


@dataclass(frozen=True)
class Table:
    """Numeric data [N, D] with a name per column."""

    data: np.ndarray
    names: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class StateComparison:
    """The Viterbi states against a known ``column``: each state mapped to the value it
    co-occurs with most (``state_to_value``), and the fraction of rows where they agree."""

    column: str
    agreement: float
    state_to_value: dict[int, float]


@dataclass(frozen=True)
class GMMFit:
    """A mixture fitted by :func:`fit_gmm`: its parameters (``covariances`` in scikit-learn's
    shape: [K, D, D] full, [K, D] diag, [D, D] tied, [K] spherical), the mean log-likelihood per row at each EM iteration (``history``) and at
    the end, and where it was written."""

    source: str
    columns: tuple[str, ...]
    rows: int
    components: int
    covariance_type: str
    weights: tuple[float, ...]
    means: tuple[tuple[float, ...], ...]
    covariances: tuple[Any, ...]
    log_likelihood_per_row: float
    bic: float
    history: tuple[float, ...]
    iterations: int
    converged: bool
    seed: int
    seconds: float
    out: Path

    @property
    def log_likelihood(self) -> float:
        return self.log_likelihood_per_row * self.rows

    def params(self) -> dict[str, Any]:
        """What ``params.json`` holds."""
        return {
            "model": "gmm",
            "source": self.source,
            "columns": list(self.columns),
            "rows": self.rows,
            "components": self.components,
            "covariance_type": self.covariance_type,
            "weights": list(self.weights),
            "means": _lists(self.means),
            "covariances": _lists(self.covariances),
            "log_likelihood_per_row": self.log_likelihood_per_row,
            "log_likelihood": self.log_likelihood,
            "bic": self.bic,
            "history": list(self.history),
            "iterations": self.iterations,
            "converged": self.converged,
            "seed": self.seed,
        }

    def summary(self) -> str:
        return (
            f"gmm: log-likelihood per row {self.log_likelihood_per_row:.4f} over {self.rows} "
            f"rows, {self.iterations} iterations{'' if self.converged else ' (not converged)'}"
            f" in {self.seconds:.1f} s; wrote {self.out}"
        )


@dataclass(frozen=True)
class HMMFit:
    """An HMM fitted by :func:`fit_hmm`: π, A, the emission parameters (``means`` and
    ``variances`` in the data's units for Gaussian emissions, ``emissionprob`` for categorical
    ones), the log-likelihood of the data in its own units at each Baum–Welch iteration and at
    the end, the restarts' final log-likelihoods, the comparison with a known column if asked,
    and where it was written."""

    source: str
    columns: tuple[str, ...]
    rows: int
    states: int
    emission: str
    pi: tuple[float, ...]
    A: tuple[tuple[float, ...], ...]
    means: tuple[tuple[float, ...], ...] | None
    variances: tuple[tuple[float, ...], ...] | None
    emissionprob: tuple[tuple[float, ...], ...] | None
    log_likelihood: float
    history: tuple[float, ...]
    converged: bool
    seed: int
    restarts: int
    restart_log_likelihoods: tuple[float, ...]
    comparison: StateComparison | None
    seconds: float
    out: Path

    @property
    def log_likelihood_per_row(self) -> float:
        return self.log_likelihood / self.rows

    @property
    def iterations(self) -> int:
        return len(self.history)

    def params(self) -> dict[str, Any]:
        """What ``params.json`` holds."""
        params: dict[str, Any] = {
            "model": "hmm",
            "source": self.source,
            "columns": list(self.columns),
            "rows": self.rows,
            "states": self.states,
            "emission": self.emission,
            "pi": list(self.pi),
            "A": _lists(self.A),
        }
        if self.emission == "gaussian":
            params["means"] = _lists(self.means)
            params["variances"] = _lists(self.variances)
        else:
            params["emissionprob"] = _lists(self.emissionprob)
        params |= {
            "log_likelihood": self.log_likelihood,
            "log_likelihood_per_row": self.log_likelihood_per_row,
            "history": list(self.history),
            "iterations": self.iterations,
            "converged": self.converged,
            "seed": self.seed,
            "restarts": self.restarts,
            "restart_log_likelihoods": list(self.restart_log_likelihoods),
        }
        if self.comparison is not None:
            params["comparison"] = {
                "column": self.comparison.column,
                "agreement": self.comparison.agreement,
                "state_to_value": {str(k): v for k, v in self.comparison.state_to_value.items()},
            }
        return params

    def summary(self) -> str:
        text = (
            f"hmm: log-likelihood per row {self.log_likelihood_per_row:.4f} over {self.rows} "
            f"rows, {self.iterations} iterations{'' if self.converged else ' (not converged)'}"
        )
        if self.comparison is not None:
            text += f", agreement with the reference {100 * self.comparison.agreement:.1f} %"
        return text + f" in {self.seconds:.1f} s; wrote {self.out}"


def _frozen(values: Any) -> Any:
    """Nested tuples of floats from an array."""
    array = np.asarray(values, dtype=float)
    return tuple(_frozen(v) for v in array) if array.ndim > 0 else float(array)


def _lists(values: Any) -> Any:
    return [_lists(v) for v in values] if isinstance(values, tuple | list) else values


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_csv(path: str | Path) -> Table:
    """A numeric CSV file (comma, semicolon, tab or whitespace separated), UTF-8 without a
    byte-order mark. A first row with a non-numeric field is taken as a header; any other
    non-numeric field is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    text = read_text(path, str(path))
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
    return Table(data, tuple(names), str(path))


def load_table(source: str, data_dir: str | Path | None = None) -> Table:
    """``uci:NAME`` (the set's inputs, then its target, as columns) or a CSV file."""
    if source.startswith("uci:"):
        ds = load_uci(source, data_dir)
        data = torch.cat([ds.x, ds.y[:, None]], 1).numpy()
        names = [f"x{j}" for j in range(ds.x.shape[1])] + ["y"]
        known = UCI_COLUMNS.get(ds.name)
        if known is not None and len(known) == len(names):
            names = [f"{name}: {label}" for name, label in zip(names, known, strict=True)]
        return Table(data, tuple(names), source)
    return read_csv(source)


def parse_columns(text: str | None, table: Table, option: str = "--columns") -> list[int]:
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
                raise ValueError(
                    f"{option}: column {j} is out of range: {table.source} has {width}"
                )
            out.append(j % width)
        elif item in table.names:
            out.append(table.names.index(item))
        else:
            raise ValueError(
                f"{option}: no column {item!r} in {table.source}; its columns: "
                + ", ".join(table.names)
            )
    if not out:
        raise ValueError(f"{option}: no columns in {text!r}")
    return out


def parse_rows(text: str | None, n: int) -> slice:
    """``"300"`` (the first 300 rows) or ``"100:400"`` (``"100:"``: to the end); all rows when
    empty.

    >>> parse_rows("300", 1000), parse_rows("10:", 50)
    (slice(0, 300, None), slice(10, 50, None))
    """
    if not text:
        return slice(0, n)
    m = re.fullmatch(r"\s*(\d*)\s*(?::\s*(\d*)\s*)?", text)
    if not m or (m.group(1) == "" and m.group(2) in (None, "")):
        raise ValueError(f"--rows must be N or START:STOP, got {text!r}")
    if m.group(2) is None:
        return slice(0, int(m.group(1)))
    part = slice(int(m.group(1) or 0), int(m.group(2)) if m.group(2) else n)
    if part.stop <= part.start:
        raise ValueError(f"--rows {text}: STOP must be greater than START")
    return part


def select(
    source: str, columns: str | None, rows: str | None, data_dir: str | Path | None
) -> tuple[np.ndarray, list[str], Table, slice]:
    table = load_table(source, data_dir)
    chosen = parse_columns(columns, table)
    part = parse_rows(rows, len(table.data))
    X = table.data[part][:, chosen]
    return X, [table.names[j] for j in chosen], table, part


def _whole(option: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{option} must be a whole number >= {minimum}, got {value!r}")


def _tolerance(value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"--tol must be a finite number >= 0, got {value}")


def _enough_rows(K: int, n: int, what: str) -> None:
    if n < max(2, K):
        raise ValueError(f"too few rows: {n}; fitting {K} {what} needs at least {max(2, K)}")


def check_output(out: Path, names: Sequence[str], overwrite: bool) -> None:
    """Refuse an output folder that holds any of ``names`` unless ``overwrite``, or that is a
    file; nothing is created here."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"cannot use {out} as an output folder: a file is in the way")
    held = [name for name in names if (out / name).exists()]
    if held and not overwrite:
        raise ValueError(
            f"{out} already holds a fit ({', '.join(held)}); pass --overwrite to replace it"
        )


def _make(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"cannot write to {out}: {error.strerror or error}; choose another --out"
        ) from error


def _write_labels(path: Path, header: str, labels: np.ndarray, probability: np.ndarray) -> None:
    lines = [header] + [
        f"{k},{p:.4f}" for k, p in zip(labels.tolist(), probability.tolist(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def match_states(states: np.ndarray, reference: np.ndarray) -> tuple[float, dict[int, float]]:
    """Map each state to the reference value it co-occurs with most (majority vote) and return
    the fraction of rows where the mapped state equals the reference, and the mapping.

    >>> match_states(np.array([0, 0, 1, 1]), np.array([5.0, 5.0, 7.0, 5.0]))
    (0.75, {0: 5.0, 1: 5.0})
    """
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
    overwrite: bool = False,
) -> GMMFit:
    """Fit a ``components``-component mixture by EM to the chosen columns and rows of
    ``source``; write params.json, labels.csv (component, responsibility) and mixture.png to
    ``out`` (refused if it holds a fit, unless ``overwrite``)."""
    from reparam.plots.latent import plot_mixture

    _whole("--components", components)
    if covariance not in COVARIANCE_TYPES:
        raise ValueError(
            f"unknown --covariance {covariance!r}; choose {', '.join(COVARIANCE_TYPES)}"
        )
    _whole("--max-iter", max_iter)
    _tolerance(tol)
    out = Path(out)
    check_output(out, GMM_FILES, overwrite)
    X, names, _, _ = select(source, columns, rows, data_dir)
    _enough_rows(components, len(X), "components")
    start = time.perf_counter()
    gmm = GaussianMixture(
        components, covariance_type=covariance, tol=tol, max_iter=max_iter, seed=seed
    ).fit(X)
    seconds = time.perf_counter() - start
    Xt = torch.from_numpy(X)
    confidence, assigned = gmm.predict_proba(Xt).max(1)
    per_row = gmm.score(Xt)
    fit = GMMFit(
        source=source,
        columns=tuple(names),
        rows=len(X),
        components=components,
        covariance_type=covariance,
        weights=_frozen(gmm.weights_),
        means=_frozen(gmm.means_),
        covariances=_frozen(gmm.covariances_),
        log_likelihood_per_row=per_row,
        bic=gmm.bic(Xt),
        history=tuple(gmm.history),
        iterations=gmm.n_iter_,
        converged=bool(gmm.converged_),
        seed=seed,
        seconds=seconds,
        out=out,
    )
    _make(out)
    (out / "params.json").write_text(json.dumps(fit.params(), indent=2) + "\n")
    _write_labels(
        out / "labels.csv", "component,responsibility", assigned.numpy(), confidence.numpy()
    )
    plot_mixture(
        X,
        assigned.numpy(),
        gmm.weights_.numpy(),
        gmm.means_.numpy(),
        full_covariances(gmm.covariances_, covariance, gmm.means_).numpy(),
        [*gmm.history, per_row],
        out / "mixture.png",
        names=names,
    )
    return fit


def full_covariances(covariances: torch.Tensor, kind: str, means: torch.Tensor) -> torch.Tensor:
    """Each component's [D, D] covariance from ``covariances`` of type ``kind`` (``means``
    [K, D] gives the sizes).

    >>> full_covariances(torch.tensor([1.0, 4.0]), "spherical", torch.zeros(2, 3)).shape
    torch.Size([2, 3, 3])
    """
    K, D = means.shape
    eye = torch.eye(D, dtype=covariances.dtype)
    if kind == "full":
        return covariances
    if kind == "diag":
        return torch.diag_embed(covariances)
    if kind == "tied":
        return covariances.expand(K, D, D)
    return covariances[:, None, None] * eye


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
    overwrite: bool = False,
) -> HMMFit:
    """Fit an HMM by Baum–Welch to the chosen rows, in file order, as one sequence; write
    params.json, labels.csv (Viterbi state, max posterior) and states.png to ``out`` (refused
    if it holds a fit, unless ``overwrite``).

    Gaussian emissions are fitted to standardised columns (the means and variances are
    reported in the data's units) from a diagonal mixture's components; categorical emissions
    take one column of symbols 0…M−1. ``compare_column`` (a column of the table) scores the
    Viterbi states against it after majority-vote matching. ``restarts`` fits from seeds
    ``seed``, ``seed + 1``, … and keeps the one of highest likelihood."""
    from reparam.plots.latent import plot_states

    _whole("--states", states)
    _whole("--restarts", restarts)
    _whole("--n-iter", n_iter)
    _tolerance(tol)
    if emission not in EMISSIONS:
        raise ValueError(f"unknown --emission {emission!r}; choose gaussian or categorical")
    out = Path(out)
    check_output(out, HMM_FILES, overwrite)
    X, names, table, part = select(source, columns, rows, data_dir)
    _enough_rows(states, len(X), "states")
    comparison_column = None
    if compare_column is not None:
        comparison_column = parse_columns(compare_column, table, "--compare-column")[0]
    start = time.perf_counter()
    if emission == "categorical":
        if X.shape[1] != 1:
            raise ValueError(
                f"--emission categorical takes one column of symbols (--columns), got {len(names)}"
            )
        symbols = X[:, 0]
        if (symbols != np.round(symbols)).any() or (symbols < 0).any():
            raise ValueError("--emission categorical needs non-negative integer symbols")
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

    with warnings.catch_warnings():
        # only the kept fit's convergence matters, not its starting mixture's or other restarts'
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [one(seed + i) for i in range(restarts)]
    with torch.no_grad():
        finals = [float(h.log_likelihood(x)) for h in fits]
    best = int(np.argmax(finals))
    hmm = fits[best]
    hmm.monitor_.warn(f"HMM.fit (Baum–Welch, seed {seed + best})")
    seconds = time.perf_counter() - start
    history = list(hmm.history_)
    converged = hmm.converged_
    gamma, _, ll = hmm.posteriors(x)
    path, _ = hmm.viterbi(x)
    gamma, path, total = gamma[0].numpy(), path[0].numpy(), float(ll[0])
    units = len(X) * float(np.log(scale).sum()) if emission == "gaussian" else 0.0
    comparison, reference = None, None
    if comparison_column is not None:
        reference = table.data[part][:, comparison_column]
        agreement, mapping = match_states(path, reference)
        comparison = StateComparison(table.names[comparison_column], agreement, mapping)
    gaussian = emission == "gaussian"
    fit = HMMFit(
        source=source,
        columns=tuple(names),
        rows=len(X),
        states=states,
        emission=emission,
        pi=_frozen(hmm.log_pi.exp().detach()),
        A=_frozen(hmm.log_A.exp().detach()),
        means=_frozen(hmm.means.detach().numpy() * scale + centre) if gaussian else None,
        variances=_frozen(hmm.variances.detach().numpy() * scale**2) if gaussian else None,
        emissionprob=None if gaussian else _frozen(hmm.log_emission.exp().detach()),
        log_likelihood=total - units,  # the density of the data in its own units
        history=tuple(h - units for h in history),
        converged=converged,
        seed=seed + best,
        restarts=restarts,
        restart_log_likelihoods=tuple(f - units for f in finals),
        comparison=comparison,
        seconds=seconds,
        out=out,
    )
    _make(out)
    (out / "params.json").write_text(json.dumps(fit.params(), indent=2) + "\n")
    _write_labels(out / "labels.csv", "state,posterior", path, gamma.max(1))
    plot_states(
        X[:, 0],
        path,
        gamma,
        list(fit.history),
        out / "states.png",
        name=names[0],
        reference=reference,
        reference_name=comparison.column if comparison else "reference",
        transitions=np.asarray(fit.A),
    )
    return fit
