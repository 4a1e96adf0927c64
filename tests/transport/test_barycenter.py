"""free_support_barycenter against POT's ot.lp.free_support_barycenter from the same X_init
(POT's test_ot.py cases and random clouds), the warning and bad inputs."""

import warnings

import numpy as np
import ot
import pytest
import torch

from reparam import ConvergenceWarning
from reparam.transport import free_support_barycenter


def test_free_support_barycenter() -> None:
    # ported from POT test_ot.py::test_free_support_barycenter (and _backends: torch inputs)
    measures_locations = [np.array([-1.0]).reshape((1, 1)), np.array([1.0]).reshape((1, 1))]
    measures_weights = [np.array([1.0]), np.array([1.0])]
    X_init = np.array([-12.0]).reshape((1, 1))
    bar_locations = np.array([0.0]).reshape((1, 1))
    res = free_support_barycenter(measures_locations, measures_weights, X_init)
    np.testing.assert_allclose(res.locations.numpy(), bar_locations, rtol=1e-5, atol=1e-7)
    assert res.converged and res.iterations == 2
    X = ot.lp.free_support_barycenter(measures_locations, measures_weights, X_init)
    torch_res = free_support_barycenter(
        [torch.tensor(x) for x in measures_locations], None, torch.tensor(X_init)
    )
    np.testing.assert_allclose(X, torch_res.locations.numpy())


@pytest.mark.parametrize("weighted", [False, True])
def test_matches_pot_from_the_same_start(weighted: bool) -> None:
    rng = np.random.RandomState(0)
    Ys = [rng.randn(12, 2) + 3 * i for i in range(3)]
    ws = [w / w.sum() for w in rng.rand(3, 12)]
    X_init = rng.randn(6, 2)
    b = rng.rand(6) + 0.1 if weighted else None
    b = b / b.sum() if weighted else None
    weights = np.array([0.2, 0.3, 0.5]) if weighted else None
    X, log = ot.lp.free_support_barycenter(Ys, ws, X_init, b=b, weights=weights, log=True)
    res = free_support_barycenter(Ys, ws, X_init, b=b, weights=weights)
    np.testing.assert_allclose(res.locations.numpy(), X, atol=1e-10)
    assert res.iterations == len(log["displacement_square_norms"])
    assert res.displacement == pytest.approx(float(log["displacement_square_norms"][-1]), abs=1e-12)


def test_warns_when_it_stops_early_and_not_otherwise() -> None:
    rng = np.random.RandomState(1)
    Ys = [rng.randn(8, 2), rng.randn(8, 2) + 2]
    with pytest.warns(ConvergenceWarning, match="free_support_barycenter did not converge"):
        res = free_support_barycenter(Ys, None, rng.randn(4, 2) * 10, max_iter=1)
    assert not res.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert free_support_barycenter(Ys, None, rng.randn(4, 2)).converged


def test_bad_inputs_name_the_argument() -> None:
    Y = [np.zeros((3, 2))]
    with pytest.raises(
        ValueError, match=r"measures_locations\[0\] must be a non-empty point cloud \[k, 1\]"
    ):
        free_support_barycenter(Y, None, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="measures_weights must hold 1"):
        free_support_barycenter(Y, [None, None], np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"measures_weights\[0\] must sum to 1"):
        free_support_barycenter(Y, [np.ones(3)], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="b must be positive"):
        free_support_barycenter(Y, None, np.zeros((2, 2)), b=[1.0, 0.0])
    with pytest.raises(ValueError, match="X_init has non-finite"):
        free_support_barycenter(Y, None, np.full((2, 2), np.nan))
    with pytest.raises(TypeError, match="measures_locations"):
        free_support_barycenter(np.zeros((3, 2)), None, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="tol"):
        free_support_barycenter(Y, None, np.zeros((2, 2)), tol=0.0)
