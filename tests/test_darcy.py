"""The Darcy problem's data: the thresholded random field, and both solvers against a manufactured solution."""

import numpy as np
import pytest

from problems import darcy_surrogate as darcy


def test_thresholded_field_takes_two_values_and_has_the_spectrum():
    psi, a = darcy.sample_permeability(np.random.default_rng(0), 64, 32, high=12.0, low=3.0)
    assert a.shape == psi.shape == (64, 32, 32)
    assert set(np.unique(a)) == {3.0, 12.0}
    np.testing.assert_array_equal(a == 12.0, psi >= 0)
    # Both phases are present in a typical field: the constant mode is removed, so the
    # grid mean of psi is zero.
    np.testing.assert_allclose(psi.mean(axis=(1, 2)), 0.0, atol=1e-12)
    assert 0.2 < np.mean(a == 12.0) < 0.8
    # Parseval for the orthonormal DCT: the grid mean of psi^2 has expectation
    # sum_k c_k^2 over the non-constant modes, c_k = tau^(alpha-1) (pi^2 |k|^2 + tau^2)^(-alpha/2).
    k = np.arange(32)
    c2 = 3.0**2 * (np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + 9.0) ** -2.0
    expected = c2.sum() - c2[0, 0]
    np.testing.assert_allclose(np.mean(psi**2), expected, rtol=0.1)
    again, _ = darcy.sample_permeability(np.random.default_rng(0), 64, 32)
    np.testing.assert_array_equal(psi, again)


def _manufactured(size):
    # u = sin(pi x) sin(pi y) (zero on the boundary), a = 1 + x^2 + y / 2,
    # f = -div(a grad u) = -(a lap u + a_x u_x + a_y u_y).
    x, y = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    u = np.sin(np.pi * x) * np.sin(np.pi * y)
    a = 1 + x**2 + y / 2
    ux = np.pi * np.cos(np.pi * x) * np.sin(np.pi * y)
    uy = np.pi * np.sin(np.pi * x) * np.cos(np.pi * y)
    f = 2 * np.pi**2 * a * u - 2 * x * ux - uy / 2
    return a, f[1:-1, 1:-1], u


def test_solvers_are_second_order_on_a_manufactured_solution():
    errors = {"cg": [], "direct": []}
    for size in (9, 17, 33):
        a, f, u = _manufactured(size)
        # A batch of two: the manufactured problem and its source doubled (u doubles).
        a2, f2, u2 = np.stack([a, a]), np.stack([f, 2 * f]), np.stack([u, 2 * u])
        cg = darcy.solve_cg(a2, f2, tolerance=1e-12)
        direct = darcy.solve_direct(a2, f2)
        np.testing.assert_allclose(cg, direct, rtol=1e-9, atol=1e-12)
        assert np.all(cg[:, 0] == 0) and np.all(cg[:, :, -1] == 0)
        errors["cg"].append(np.max(np.abs(cg - u2)) / 2)
        errors["direct"].append(np.max(np.abs(direct - u2)) / 2)
    for e in errors.values():
        ratios = np.array(e[:-1]) / np.array(e[1:])
        assert e[-1] < 2e-3
        np.testing.assert_allclose(ratios, 4.0, rtol=0.1)


def test_relative_errors_per_sample():
    truth = np.stack([np.ones((4, 4)), 2 * np.ones((4, 4))])
    np.testing.assert_allclose(darcy.relative_errors(truth * 1.01, truth), [0.01, 0.01])


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(size=4), "size must be >= 8"),
        (dict(a_low=12.0, a_high=3.0), "0 < a_low < a_high"),
        (dict(fno_modes=20), "fno_modes must be in"),
        (dict(n_train=0), "must be >= 1"),
        (dict(speed_sizes=()), "speed_sizes"),
        (dict(cg_tolerance=0.1), "cg_tolerance"),
    ],
)
def test_bad_config_raises(override, message):
    with pytest.raises(ValueError, match=f"darcy_surrogate: .*{message}"):
        darcy.Config(**override)


def test_bad_permeability_shape_raises():
    with pytest.raises(ValueError, match=r"darcy_surrogate: permeabilities must have shape \(n, s, s\)"):
        darcy.solve_cg(np.ones((5, 5)))
