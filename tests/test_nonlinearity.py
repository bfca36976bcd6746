"""demos/nonlinearity.py: a linear stack collapses to one map and fails XOR; a nonlinear one learns it."""

import importlib.util
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "demos" / "nonlinearity.py"


@pytest.fixture(scope="module")
def nonlinearity():
    spec = importlib.util.spec_from_file_location("nonlinearity_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_linear_stack_collapses_and_only_a_nonlinear_one_learns_xor(nonlinearity, capsys):
    r = nonlinearity.main(seed=0)
    out = capsys.readouterr().out
    # Without activations: exactly one affine map, the least-squares one, stuck at MSE 0.25.
    assert r["linear_collapse_error"] < 1e-6
    assert r["linear_vs_least_squares"] < 1e-3
    assert abs(r["least_squares_loss"] - 0.25) < 1e-9
    assert abs(r["linear_loss"] - 0.25) < 1e-3
    assert r["linear_accuracy"] <= 0.75
    # With a nonlinearity: XOR is learned, and the network is no longer one linear map.
    assert r["nonlinear_accuracy"] == 1.0
    assert r["nonlinear_loss"] < 0.01
    assert r["nonlinear_collapse_error"] > 0.1
    assert "cannot learn XOR" in out and "learns XOR" in out and "accuracy 100%" in out


def test_relu_learns_xor_too_and_runs_are_seeded(nonlinearity, capsys):
    a = nonlinearity.main(seed=1, activation="relu", steps=800)
    b = nonlinearity.main(seed=1, activation="relu", steps=800)
    capsys.readouterr()
    assert a == pytest.approx(b, abs=1e-9)  # the same run (BLAS may differ in the last bits)
    assert a["nonlinear_accuracy"] == 1.0 and a["linear_accuracy"] <= 0.75
