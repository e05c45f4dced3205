"""The Lotka-Volterra UDE problem's sparse regression and references, on exact data."""

import numpy as np

from problems import lotka_volterra_ude as lv


def _true_trajectory(n=61):
    t = np.linspace(0.0, 3.0, n)
    u = lv.reference(t)
    missing = np.stack([-lv.TRUE["b"] * u[:, 0] * u[:, 1], lv.TRUE["c"] * u[:, 0] * u[:, 1]], axis=1)
    return t, u, missing


def test_library_and_names():
    exps = lv.exponents(3)
    assert len(exps) == 10
    assert [lv.term_name(e) for e in exps][:6] == ["1", "x", "y", "x^2", "x y", "y^2"]
    u = np.array([[2.0, 3.0]])
    np.testing.assert_allclose(lv.library(u, exps)[0, [0, 4, 7]], [1.0, 6.0, 12.0])


def test_stlsq_recovers_sparse_coefficients():
    _, u, missing = _true_trajectory()
    lib = lv.library(u, lv.exponents(3))
    w = lv.stlsq(lib, missing[:, 1], threshold=0.05)
    expected = np.zeros(10)
    expected[4] = lv.TRUE["c"]
    np.testing.assert_allclose(w, expected, atol=1e-8)


def test_candidate_supports_rank_the_true_terms_first():
    _, u, missing = _true_trajectory()
    config = lv.Config(bagging_rounds=30, candidates=3)
    supports = lv.candidate_supports(u, missing, lv.exponents(3), config, np.random.default_rng(0))
    assert [s[0] for s in supports] == [(4,), (4,)]  # "x y" for both components


def test_oracle_fit_recovers_parameters_from_exact_data():
    t, _, _ = _true_trajectory(31)
    y = lv.reference(t)
    oracle = lv.oracle_fit(t, y, y.std(axis=0))
    assert abs(oracle["b"] - lv.TRUE["b"]) < 1e-5 and abs(oracle["c"] - lv.TRUE["c"]) < 1e-5


def test_aicc_prefers_fewer_terms_at_equal_loss():
    assert lv.aicc(0.01, 62, 2) < lv.aicc(0.01, 62, 3)
    assert lv.aicc(float("inf"), 62, 2) == float("inf")
