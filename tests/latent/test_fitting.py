"""`reparam fit gmm|hmm`: the commands on small synthetic CSV files, the frozen results, CSV
parsing and its errors, the output folder guard, and the plot functions. (The user-error
table through the console script is tests/cli/test_errors_fit.py; the CTC demo is
test_ctc_demo.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam import ConvergenceWarning
from reparam.cli import app
from reparam.experiments.fitting import (
    GMMFit,
    HMMFit,
    fit_gmm,
    fit_hmm,
    match_states,
    parse_rows,
    read_csv,
)
from reparam.plots.latent import plot_ctc_alignment, plot_mixture, plot_states

runner = CliRunner()


def write_csv(path, data, header=None, fmt="%.6f", delimiter=","):
    np.savetxt(path, data, fmt=fmt, delimiter=delimiter, header=header or "", comments="")
    if header is None:  # savetxt writes an empty first line for an empty header
        path.write_text(path.read_text().lstrip("\n"))
    return path


def clusters(n=90, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    labels = np.repeat(np.arange(3), n // 3)
    return centres[labels] + 0.5 * rng.standard_normal((n, 2)), labels


def agreement(found, truth):
    return match_states(np.asarray(found), np.asarray(truth))[0]


def test_gmm_command_recovers_clusters(tmp_path):
    X, labels = clusters()
    source = write_csv(tmp_path / "data.csv", np.column_stack([X, labels]), header="a,b,label")
    out = tmp_path / "gmm"
    result = runner.invoke(
        app,
        ["fit", "gmm", str(source), "--components", "3", "--columns", "a,b", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "log-likelihood per row" in result.output and str(out) in result.output
    params = json.loads((out / "params.json").read_text())
    assert params["columns"] == ["a", "b"] and params["rows"] == 90 and params["converged"]
    assert len(params["weights"]) == 3 and np.allclose(sorted(params["weights"]), 1 / 3, atol=0.01)
    assert np.all(np.diff(params["history"]) >= -1e-9)
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[0] == "component,responsibility" and len(rows) == 91
    found = [int(row.split(",")[0]) for row in rows[1:]]
    assert agreement(found, labels) == 1.0
    assert (out / "mixture.png").stat().st_size > 1000


def test_gmm_diag_one_column_and_rows(tmp_path):
    X, _ = clusters()
    source = write_csv(tmp_path / "data.txt", X, delimiter=" ")
    out = tmp_path / "g"
    args = ["fit", "gmm", str(source), "--components", "2", "--covariance", "diag"]
    result = runner.invoke(app, [*args, "--columns", "1", "--rows", "60", "--out", str(out)])
    assert result.exit_code == 0, result.output
    params = json.loads((out / "params.json").read_text())
    assert params["rows"] == 60 and params["columns"] == ["x1"]
    assert np.array(params["covariances"]).shape == (2, 1)
    assert (out / "mixture.png").is_file()


@pytest.mark.parametrize(("kind", "shape"), [("tied", (2, 2)), ("spherical", (2,))])
def test_gmm_tied_and_spherical(tmp_path, kind, shape):
    X, _ = clusters()
    source = write_csv(tmp_path / "data.csv", X)
    out = tmp_path / kind
    args = ["fit", "gmm", str(source), "--components", "2", "--covariance", kind]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    params = json.loads((out / "params.json").read_text())
    assert params["covariance_type"] == kind
    assert np.array(params["covariances"]).shape == shape
    assert (out / "mixture.png").is_file()


def test_hmm_command_recovers_states(tmp_path):
    gen = torch.Generator().manual_seed(0)
    states, t = [], 0
    while len(states) < 240:  # dwell 10–20 steps in each of three levels, cycling
        states += [t % 3] * int(torch.randint(10, 21, (1,), generator=gen))
        t += 1
    states = np.array(states[:240])
    x = np.array([-4.0, 0.0, 4.0])[states] + 0.6 * np.random.default_rng(1).standard_normal(240)
    source = write_csv(tmp_path / "series.csv", np.column_stack([x, states]), header="x,truth")
    out = tmp_path / "hmm"
    args = ["fit", "hmm", str(source), "--states", "3", "--columns", "x"]
    result = runner.invoke(app, [*args, "--compare-column", "truth", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "agreement with the reference 100.0 %" in result.output
    params = json.loads((out / "params.json").read_text())
    A = np.array(params["A"])
    assert A.shape == (3, 3) and np.allclose(A.sum(1), 1) and (np.diag(A) > 0.85).all()
    assert sorted(np.round(np.array(params["means"])[:, 0])) == [-4, 0, 4]
    assert params["comparison"]["agreement"] == 1.0
    assert np.all(np.diff(params["history"]) >= -1e-6)
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[0] == "state,posterior" and len(rows) == 241
    assert agreement([int(r.split(",")[0]) for r in rows[1:]], states) == 1.0
    assert (out / "states.png").stat().st_size > 1000


def test_hmm_categorical(tmp_path):
    gen = torch.Generator().manual_seed(2)
    hidden = np.repeat(np.arange(8) % 2, 15)
    flip = torch.rand(len(hidden), generator=gen).numpy() < 0.1
    symbols = np.where(flip, 1 - hidden, hidden)  # state k emits mostly symbol k
    source = write_csv(tmp_path / "s.csv", symbols[:, None], fmt="%d")
    out = tmp_path / "cat"
    args = ["fit", "hmm", str(source), "--states", "2", "--emission", "categorical"]
    with pytest.warns(ConvergenceWarning, match=r"HMM.fit \(Baum–Welch, seed \d\)") as caught:
        result = runner.invoke(app, [*args, "--restarts", "2", "--n-iter", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(caught) == 1 and "(not converged)" in result.output  # the kept fit's, once
    params = json.loads((out / "params.json").read_text())
    assert params["converged"] is False and params["iterations"] == 20
    assert np.array(params["emissionprob"]).shape == (2, 2)
    found = [int(r.split(",")[0]) for r in (out / "labels.csv").read_text().splitlines()[1:]]
    assert agreement(found, hidden) > 0.95
    bad = write_csv(tmp_path / "bad.csv", np.array([[0.5], [1.0], [2.0]]))
    with pytest.raises(ValueError, match="integer symbols"):
        fit_hmm(str(bad), 2, emission="categorical", out=tmp_path / "cat2")


def test_header_detection(tmp_path):
    with_header = tmp_path / "h.csv"
    with_header.write_text("temp;pressure\n1.5;2\n3;4e1\n")
    table = read_csv(with_header)
    assert table.names == ("temp", "pressure")
    assert table.data.tolist() == [[1.5, 2.0], [3.0, 40.0]]
    plain = tmp_path / "p.csv"
    plain.write_text("1,2\n3,4\n")
    table = read_csv(plain)
    assert table.names == ("x0", "x1") and table.data.shape == (2, 2)
    tabbed = tmp_path / "t.tsv"
    tabbed.write_text("# comment\na\tb\n1\t2\n")
    assert read_csv(tabbed).names == ("a", "b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n3,x\n", "'x' is not a number"),
        ("a,b\n", "no data rows"),
        ("1,2\n3\n", "has 1 fields, expected 2"),
        ("1,nan\n2,3\n", "NaN or infinite"),
        ("", "holds no rows"),
        ("\ufeffa,b\n1,2\n", "byte-order mark"),
    ],
)
def test_csv_errors(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_csv(path)
    (tmp_path / "latin.csv").write_bytes("a,é\n1,2\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        read_csv(tmp_path / "latin.csv")


def test_results_are_frozen_with_a_summary_and_params(tmp_path):
    X, _ = clusters()
    source = write_csv(tmp_path / "data.csv", X, header="a,b")
    fit = fit_gmm(str(source), 3, out=tmp_path / "g")
    assert isinstance(fit, GMMFit) and fit.rows == 90 and len(fit.weights) == 3
    assert fit.log_likelihood == pytest.approx(90 * fit.log_likelihood_per_row)
    assert json.loads((tmp_path / "g" / "params.json").read_text()) == json.loads(
        json.dumps(fit.params())
    )
    assert fit.summary().startswith("gmm: log-likelihood per row") and str(fit.out) in fit.summary()
    with pytest.raises(AttributeError):
        fit.rows = 3  # type: ignore[misc]
    hmm = fit_hmm(str(source), 2, columns="a", out=tmp_path / "h", compare_column="b")
    assert isinstance(hmm, HMMFit) and hmm.iterations == len(hmm.history)
    assert hmm.comparison is not None and 0 < hmm.comparison.agreement <= 1
    assert "agreement with the reference" in hmm.summary()


def test_an_existing_fit_is_kept_unless_overwrite(tmp_path):
    X, _ = clusters()
    source = str(write_csv(tmp_path / "data.csv", X))
    out = tmp_path / "g"
    fit_gmm(source, 2, out=out)
    before = (out / "params.json").read_text()
    with pytest.raises(ValueError, match=r"already holds a fit .*; pass --overwrite to replace it"):
        fit_gmm(source, 3, out=out)
    with pytest.raises(ValueError, match="already holds a fit"):
        fit_hmm(source, 2, out=out)  # another model into the same folder: refused too
    assert (out / "params.json").read_text() == before
    assert fit_gmm(source, 3, out=out, overwrite=True).components == 3
    assert json.loads((out / "params.json").read_text())["components"] == 3


def test_bad_options_are_value_errors_and_write_nothing(tmp_path):
    ok = str(write_csv(tmp_path / "ok.csv", np.arange(10.0).reshape(5, 2)))
    out = tmp_path / "o"
    for call, message in [
        (lambda: fit_gmm(ok, 0, out=out), "--components must be a whole number >= 1"),
        (lambda: fit_gmm(ok, 6, out=out), "too few rows: 5"),
        (lambda: fit_gmm(ok, 1, columns="7", out=out), "out of range"),
        (lambda: fit_gmm(ok, 1, covariance="banded", out=out), "unknown --covariance"),
        (lambda: fit_gmm(ok, 1, tol=float("nan"), out=out), "--tol must be a finite"),
        (lambda: fit_gmm(ok, 1, rows="4:2", out=out), "STOP must be greater than START"),
        (lambda: fit_hmm(ok, 0, out=out), "--states must be a whole number >= 1"),
        (lambda: fit_hmm(ok, 2, restarts=0, out=out), "--restarts"),
        (lambda: fit_hmm(ok, 2, emission="poisson", out=out), "unknown --emission"),
        (lambda: fit_hmm(ok, 2, compare_column="z", out=out), "--compare-column: no column"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
    assert not out.exists()


def test_parse_rows():
    assert parse_rows("300", 1000) == slice(0, 300)
    assert parse_rows("10:20", 1000) == slice(10, 20)
    assert parse_rows("10:", 1000) == slice(10, 1000)
    assert parse_rows(None, 5) == slice(0, 5)
    for bad in ("a", ":", "-3"):
        with pytest.raises(ValueError, match="--rows"):
            parse_rows(bad, 5)


def test_plot_functions_write_files(tmp_path):
    X, labels = clusters(30)
    plot_mixture(
        X,
        labels,
        np.ones(3) / 3,
        np.zeros((3, 2)),
        np.stack([np.eye(2)] * 3),
        [-3.0, -2.0],
        tmp_path / "m.png",
    )
    plot_mixture(
        X[:, :1],
        labels,
        np.ones(3) / 3,
        np.zeros((3, 1)),
        np.ones((3, 1)),
        [-1.0],
        tmp_path / "m1.png",
    )
    gamma = np.eye(3)[labels]
    plot_states(
        X[:, 0],
        labels,
        gamma,
        [-5.0, -4.0],
        tmp_path / "s.png",
        reference=labels,
        transitions=np.full((3, 3), 1 / 3),
    )
    plot_states(X[:, 0], labels, gamma, [-5.0], tmp_path / "s2.png")
    lp = torch.randn(12, 4, dtype=torch.float64).log_softmax(-1)
    plot_ctc_alignment(lp, [1, 3, 3], tmp_path / "c.png")
    plot_ctc_alignment(lp[:, None], [2], tmp_path / "c2.png")
    for name in ("m.png", "m1.png", "s.png", "s2.png", "c.png", "c2.png"):
        assert (tmp_path / name).stat().st_size > 1000
