"""Reduced versions of the paper's experiments (full ones: scripts/reproduce_sacramento2018.py)."""

from pathlib import Path

import numpy as np

from dendrosim import config
from dendrosim.simulation import MemorySink, Simulation

MODELS = Path(__file__).resolve().parents[1] / "models" / "sacramento2018"


def _run(name, overrides):
    cfg = config.load(MODELS / f"{name}.toml", ["record.variables=[]"] + overrides)
    sim = Simulation(cfg)
    sink = MemorySink()
    sim.run(sink)
    return sim, sink


def test_fig1_apical_error_appears_and_vanishes():
    sim, sink = _run("fig1_target", ["noise.sigma=0.0", "task.n_repeats=20"])
    apical = sink.metric("apical_norm")[:, 0]
    loss = sink.metric("loss")
    # self-predicting: nearly silent before the target (what remains is the initial transient's plasticity)
    assert apical[0] < 0.01
    assert apical[1] > 10 * apical[0]               # the target's error reaches the apical dendrites
    assert apical[-1] < 0.1 * apical[1]             # ... and is learned away
    assert loss[-1] < 1e-2 * loss[1]                # the output predicts the target


def test_hidden_error_signals_backprop_by_finite_differences_and_angles_at_the_limits():
    """error_signals' backprop signal is minus the gradient of |r_trgt - r_N|^2/2 with respect
    to the hidden somata (through the attenuated feedforward output, central differences); the
    angle to the top-down signal is 0 for W_down = W_up^T, 180 for -W_up^T, near 90 for random."""
    from dendrosim.steady import Circuit, solve
    from dendrosim.tasks.teacher import error_signal_angles, error_signals
    sim = Simulation(config.load(MODELS / "fig2_teacher_student.toml", ["task.n_test=20", "task.n_patterns=1"]))
    X, R = sim.task.test_set
    c = Circuit(sim.cfg)
    u1 = solve(sim.net, c, X, None, method="exact").u[1]
    W2 = sim.net.w("up2")

    def loss(u):
        r2 = c.phi(2, c.up(2) * (c.phi(1, u) @ W2.T))
        return 0.5 * np.sum((R - r2) ** 2, axis=1)

    h = 1e-6
    grad = np.stack([(loss(u1 + h * e) - loss(u1 - h * e)) / (2 * h) for e in np.eye(u1.shape[1])], axis=1)
    _, bp = error_signals(sim, X, R)
    np.testing.assert_allclose(bp * c.up(2), -grad, rtol=1e-5, atol=1e-9)
    a_random = error_signal_angles(sim, X, R)
    assert 60 < a_random.mean() < 120
    sim.net.w("down1")[...] = W2.T
    np.testing.assert_allclose(error_signal_angles(sim, X, R), 0.0, atol=1e-5)
    sim.net.w("down1")[...] = -W2.T
    np.testing.assert_allclose(error_signal_angles(sim, X, R), 180.0, atol=1e-5)


def test_fig2_microcircuit_beats_shallow_learner():
    ov = ["task.n_patterns=2000", "task.eval_every=500", "task.n_test=100"]
    _, mc = _run("fig2_teacher_student", ov)
    _, sh = _run("fig2_teacher_student", ov + ["plasticity.eta_up=[0.0,0.125]"])
    te_mc, te_sh = (s.metric("test_error") for s in (mc, sh))
    te_mc, te_sh = te_mc[~np.isnan(te_mc)], te_sh[~np.isnan(te_sh)]
    assert te_mc[-1] < te_mc[0]                     # the microcircuit learns
    assert te_mc[-1] < te_sh[-1]                    # ... better than the shallow learner


def test_test_error_is_nan_where_the_steady_state_is_not_found():
    """A circuit whose steady state the solver cannot reach (a strong positive loop hidden ->
    output -> apical) gets a NaN test error and a warning, not a failed run: seed 1 of Fig. 2
    stopped this way after 57,800 of 80,000 patterns."""
    import pytest
    from dendrosim.steady import Circuit, NoFixedPoint, solve
    cfg = config.load(MODELS / "fig2_teacher_student.toml",
                      ["record.variables=[]", "task.n_patterns=1", "task.eval_every=1", "task.n_test=20"])
    sim = Simulation(cfg)
    assert np.isfinite(sim.task.evaluate(sim, 0)["test_error"])
    sim.net.w("up2")[:] = 5.0
    sim.net.w("down1")[:] = 50.0
    sim.net.w("PI1")[:] = 0.0
    with pytest.raises(NoFixedPoint):       # the situation the task has to survive
        solve(sim.net, Circuit(sim.cfg), sim.task.X_test, None, method="exact")
    with pytest.warns(RuntimeWarning, match="steady state without target was not found"):
        assert np.isnan(sim.task.evaluate(sim, 0)["test_error"])
