"""A solver that stops before its tolerance is one `warning:` line from the console script,
and the command still succeeds with what it has."""

from __future__ import annotations

from tests.cli.console import reparam


def test_a_fit_stopped_at_its_cap_warns_in_one_line(tmp_path) -> None:
    rows = "".join(f"{i % 7},{(i * i) % 5}\n" for i in range(40))
    (tmp_path / "data.csv").write_text("a,b\n" + rows)
    done = reparam(
        "fit", "gmm", str(tmp_path / "data.csv"), "--components", "3", "--max-iter", "1",
        "--tol", "1e-12", "--out", str(tmp_path / "fit"),
    )  # fmt: skip
    assert done.status == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("warning: ") and "did not converge" in lines[0], lines[0]
    assert "Traceback" not in done.stderr and ".py:" not in done.stderr
