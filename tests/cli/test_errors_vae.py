"""Every user error of `reparam train vae|iwae|flow-vae|cat-vae|conv-vae`, `reparam eval` and
`reparam repro iwae|flows|gumbel`, through the real console script: exit status 2 and one line
`error: …` that names what to change, never a traceback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from reparam.experiments.vae import IWAETrainer
from reparam.train import RunOptions, run
from tests.cli.console import Outcome, assert_user_error, reparam, reparam_many

CASES = [
    # bad values, option by option
    ("epochs-0", "train iwae --epochs 0", "--epochs must be > 0"),
    ("batch-size-0", "train iwae --batch-size 0", "--batch-size must be > 0"),
    ("lr-nan", "train iwae --lr nan", "--lr must be a finite number"),
    ("lr-negative", "train conv-vae --lr -0.1", "--lr must be > 0"),
    ("k-0", "train iwae --k 0", "--k must be > 0"),
    ("subset-0", "train iwae --subset 0", "--subset must be > 0"),
    ("beta-negative", "train vae --beta -1", "--beta must be >= 0"),
    ("kl-warmup-negative", "train vae --kl-warmup -5", "--kl-warmup must be >= 0"),
    ("layers-3", "train vae --layers 3", "--layers", "choose one of 1, 2"),
    ("schedule", "train iwae --schedule cosine", "unknown --schedule 'cosine'", "burda"),
    ("objective", "train vae --objective kl", "unknown --objective 'kl'", "elbo, iwae"),
    ("flow", "train flow-vae --flow spline", "unknown --flow 'spline'", "planar, radial, iaf"),
    ("flow-length-0", "train flow-vae --flow-length 0", "--flow-length must be > 0"),
    (
        "temperature-without-gumbel",
        "train cat-vae --estimator score --temperature-rate 0.01",
        "--temperature-rate",
        "gumbel-softmax",
    ),
    ("beta-with-iwae", "train iwae --beta 2", "--beta", "does not apply to --objective iwae"),
    ("checkpoint-every-negative", "train iwae --checkpoint-every -1", "--checkpoint-every"),
    # options of another model
    ("flow-on-vae", "train vae --flow planar", "No such option", "--flow"),
    ("temperature-on-iwae", "train iwae --temperature-rate 0.1", "No such option"),
    # estimators that do not apply to the model
    ("gumbel-on-iwae", "train iwae --estimator gumbel-softmax", "does not apply to iwae", "dreg"),
    (
        "dreg-on-cat-vae",
        "train cat-vae --objective iwae --estimator dreg",
        "does not apply to cat-vae",
        "auto, vimco",
    ),
    ("vimco-k-1", "train cat-vae --objective iwae --estimator vimco", "needs --k 2"),
    ("unknown-estimator", "train iwae --estimator reinforce", "--estimator 'reinforce'"),
    # devices
    ("device-gpu", "train iwae --device gpu", "unknown device 'gpu'", "cpu, cuda"),
    # data
    ("dataset-unknown", "train iwae --dataset cifar", "unknown dataset 'cifar'", "digits"),
    ("dataset-not-binary", "train iwae --dataset mnist-test", "binary"),
    ("file-missing", "train vae --dataset {tmp}/missing.npy", "no such file"),
    ("csv-bom", "train vae --dataset {tmp}/bom.csv", "byte-order mark"),
    ("csv-text", "train vae --dataset {tmp}/text.csv", "line 3", "'x'", "not a number"),
    ("grey-values", "train vae --dataset {tmp}/grey.npy", "Bernoulli decoders need binary"),
    # run folders
    ("existing-run", "train iwae --out {run}", "already holds a run", "--resume", "--overwrite"),
    ("resume-nothing", "train iwae --out {tmp}/none --resume", "holds no checkpoint"),
    ("resume-corrupt", "train iwae --out {corrupt} --resume", "not a readable checkpoint"),
    ("resume-conflict", "train iwae --out {run} --resume --k 50", "--k 50 (the run has 2)"),
    ("resume-other-model", "train vae --out {run} --resume", "holds a run of iwae, not of vae"),
    ("out-under-a-file", "train iwae --out {tmp}/file/run", "cannot", "choose another --out"),
    # eval
    ("eval-subset-0", "eval {run} --subset 0", "--subset must be > 0"),
    ("eval-batch-size-0", "eval {run} --batch-size 0", "--batch-size must be > 0"),
    ("eval-k-0", "eval {run} --k 0", "--k must be > 0"),
    ("eval-chunk-negative", "eval {run} --chunk -2", "--chunk must be > 0"),
    ("eval-missing", "eval {tmp}/none", "no run folder"),
    # repro
    ("repro-epochs-0", "repro iwae --epochs 0", "--epochs must be > 0"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("errors")
    good = tmp / "run"
    values = {"epochs": 1, "subset": 100, "k": 2, "device": "cpu"}
    run(IWAETrainer, values, RunOptions(good, progress=False, tensorboard=False))
    shutil.copytree(good, tmp / "corrupt")
    (tmp / "corrupt" / "checkpoint.pt").write_bytes(b"garbage" * 100)
    (tmp / "bom.csv").write_bytes(b"\xef\xbb\xbf0,1\n1,0\n0,0\n")
    (tmp / "text.csv").write_text("a,b\n0,1\n1,x\n0,0\n")
    np.save(tmp / "grey.npy", np.random.default_rng(0).random((20, 4)))
    (tmp / "file").write_text("")
    return {"tmp": str(tmp), "run": str(good), "corrupt": str(tmp / "corrupt")}


@pytest.fixture(scope="module")
def outcomes(places) -> dict[str, Outcome]:
    """Every case's outcome, all through one forking driver (torch is imported once)."""

    def arguments(name: str, command: str) -> list[str]:
        args = command.format(**places).split()
        if args[0] == "train" and "--out" not in args:
            args += ["--out", str(Path(places["tmp"]) / name)]
        return args

    done = reparam_many([arguments(*case[:2]) for case in CASES], cwd=places["tmp"])
    return {case[0]: outcome for case, outcome in zip(CASES, done, strict=True)}


@pytest.mark.parametrize(("case", "fragments"), [(c[0], c[2:]) for c in CASES])
def test_user_error(places, outcomes, case: str, fragments: tuple[str, ...]) -> None:
    assert_user_error(outcomes[case], *fragments)
    if case == "existing-run":  # the run is still there
        assert torch.load(Path(places["run"]) / "checkpoint.pt", weights_only=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu(places) -> None:
    out = str(Path(places["tmp"]) / "cuda")
    assert_user_error(reparam("train", "iwae", "--device", "cuda", "--out", out), "no GPU")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_out(places) -> None:
    locked = Path(places["tmp"]) / "locked"
    locked.mkdir(mode=0o500)
    outcome = reparam("train", "iwae", "--out", str(locked / "run"))
    assert_user_error(outcome, "cannot write")
