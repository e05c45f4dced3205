"""The Burgers PINN problem: its exact reference, and a `--quick` run end to end."""

import numpy as np
import pytest

from problems import burgers_pinn


def _trapezoid(x: float, t: float, n: int = 40001, half_width: float = 2.0) -> float:
    """The Cole-Hopf integrals by the trapezoidal rule in eta (spectrally accurate here)."""
    nu = burgers_pinn.NU
    eta = np.linspace(-half_width, half_width, n)
    y = x - eta
    exponent = -np.cos(np.pi * y) / (2 * np.pi * nu) - eta**2 / (4 * nu * t)
    weight = np.exp(exponent - exponent.max())
    return float(-np.sum(np.sin(np.pi * y) * weight) / np.sum(weight))


def test_cole_hopf_reference_is_converged():
    x, t = burgers_pinn.evaluation_grid()
    assert x.shape == (256,) and t.shape == (100,) and x[0] == -1 and x[-1] == 1 and t[-1] == pytest.approx(0.99)
    tt, xx = np.meshgrid(t, x, indexing="ij")
    u200 = burgers_pinn.cole_hopf(xx, tt, 200)
    u100 = burgers_pinn.cole_hopf(xx, tt, 100)
    assert np.max(np.abs(u200 - u100)) < 1e-13
    np.testing.assert_array_equal(u200[0], -np.sin(np.pi * x))
    for xi, ti in [(0.01, 0.75), (-0.3, 0.5), (0.002, 0.99), (0.9, 0.2)]:
        assert burgers_pinn.cole_hopf(xi, ti) == pytest.approx(_trapezoid(xi, ti), abs=1e-13)
    # Basdevant et al. (1986): the steepest slope, |u_x| = 152.00516 at t = 1.6037 / pi, x = 0.
    t_star, h = 1.6037 / np.pi, 1e-6
    slope = (burgers_pinn.cole_hopf(h, t_star) - burgers_pinn.cole_hopf(-h, t_star)) / (2 * h)
    assert slope == pytest.approx(-152.00516, abs=2e-4)


def check_burgers_quick_run(record, out):
    """Shapes, exact initial row and boundary, recomputed error (on the `--quick` run of test_problems)."""
    metrics = record["metrics"]
    with np.load(out / "predictions.npz") as p:
        assert p["u"].shape == (100, 256) and p["u_exact"].shape == (100, 256)
        error = np.linalg.norm(p["u"] - p["u_exact"]) / np.linalg.norm(p["u_exact"])
        # The hard constraint makes the initial row exact.
        np.testing.assert_allclose(p["u"][0], p["u_exact"][0], atol=1e-12)
        assert p["u"][:, 0] == pytest.approx(0, abs=1e-12) and p["u"][:, -1] == pytest.approx(0, abs=1e-12)
    assert metrics["relative_l2"] == pytest.approx(error)
    assert sorted(f for f in record["outputs"] if f.endswith(".png")) == ["slices.png", "solution.png", "training.png"]
