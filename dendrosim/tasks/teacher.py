"""Nonlinear regression with a teacher network (Sacramento et al. 2018, Fig. 2, sec. 3.3).

Teacher 30-20-10: r_trgt = phi(k2 W2 phi(k1 W1 r_0)), k1 = 2, k2 = 10, weights and
input entries U(-1, 1). The student's output is nudged towards the teacher's
*voltage* u_trgt = k2 W2 phi(k1 W1 r_0) (pitfall 5; R-ern used the rate).
Test error: mean over unseen patterns of |r_N - r_trgt|^2 at the noise-free
steady state without a target (the network's own prediction), every
``eval_every`` patterns; NaN (with a warning) where that steady state is not found.
"""

from __future__ import annotations

import numpy as np

from ..config import ConfigError
from ..model.transfer import phi_np
from ..steady import Circuit, solve
from .base import Segment, Task, register, steady_or_nan


@register
class TeacherStudent(Task):
    kind = "teacher_student"
    KEYS = {
        "n_patterns": (10000, "training patterns (each a fresh input)"),
        "duration": (100.0, "presentation time per pattern, ms"),
        "teacher_sizes": ([30, 20, 10], "teacher layer sizes (first and last must match the student)"),
        "gains": ([2.0, 10.0], "teacher gains k_{1,0}, k_{2,1}, ... per layer"),
        "teacher_scale": (1.0, "teacher weights U(-s, s)"),
        "input_low": (-1.0, "lower bound of the input entries (paper U(-1, 1))"),
        "input_high": (1.0, "upper bound of the input entries"),
        "n_test": (200, "unseen test patterns"),
        "eval_every": (100, "evaluate the test error every this many patterns (0 = never)"),
        "transfer": ("soft_relu", "teacher transfer function (paper: the student's)"),
    }

    def __init__(self, options, sizes, dt, rng):
        super().__init__(options, sizes, dt, rng)
        self.n = self.option("n_patterns", int, positive=True, allow_zero=False)
        self.steps = self.steps_of("duration")
        ts = list(self.options["teacher_sizes"])
        if len(ts) < 2 or ts[0] != sizes[0] or ts[-1] != sizes[-1]:
            raise ConfigError("task.teacher_sizes", f"must start with {sizes[0]} and end with {sizes[-1]}, got {ts}")
        gains = list(self.options["gains"])
        if len(gains) != len(ts) - 1:
            raise ConfigError("task.gains", f"needs {len(ts) - 1} values, got {len(gains)}")
        s = self.option("teacher_scale", positive=True)
        self.gains = [float(g) for g in gains]
        self.W = [rng.uniform(-s, s, (ts[k], ts[k - 1])) for k in range(1, len(ts))]
        lo, hi = self.option("input_low"), self.option("input_high")
        self.X = rng.uniform(lo, hi, (self.n, sizes[0]))
        self.X_test = rng.uniform(lo, hi, (self.option("n_test", int, positive=True), sizes[0]))
        self.eval_every = self.option("eval_every", int, positive=True)
        self.transfer = self.options["transfer"]
        self._u_test = self.teacher_voltage(self.X_test)
        self._r_test = phi_np(self._u_test, self.transfer)

    def teacher_voltage(self, X):
        """u_trgt = k_N W_N phi(... phi(k_1 W_1 x)) (pre-activation of the teacher's output)."""
        r = np.atleast_2d(X)
        for W, g in zip(self.W, self.gains):
            u = g * r @ W.T
            r = phi_np(u, self.transfer)
        return u

    @property
    def test_set(self):
        """(inputs, teacher rates) of the unseen test patterns."""
        return self.X_test, self._r_test

    def __len__(self):
        return self.n

    def segment(self, i):
        x = self.X[i]
        return Segment(x, self.teacher_voltage(x)[0], self.steps, i)

    def evaluate(self, sim, segment):
        if not self.eval_every or segment % self.eval_every:
            return {"test_error": np.nan}
        return {"test_error": steady_or_nan(lambda: test_error(sim, self.X_test, self._r_test))}


def test_error(sim, X, R_target) -> float:
    """Mean |r_N - r_trgt|^2 at the noise-free steady state without target."""
    st = solve(sim.net, Circuit(sim.cfg), X, None, method="exact")
    return float(np.mean(np.sum((st.r[-1] - R_target) ** 2, axis=1)))


def error_signals(sim, X, R_target):
    """(top-down, backprop) error signals of the last hidden layer k = N-1 for each pattern of
    ``X`` at the noise-free steady state without target: (d_N W_down,k^T) * phi_k'(u_k) and
    (d_N W_up,N) * phi_k'(u_k), with d_N = (r_trgt - r_N) * phi_N'(u_N). The second is minus the
    gradient of |r_trgt - r_N|^2 / 2 with respect to u_k, divided by the output's attenuation
    (tests/test_reproduction.py checks it against finite differences)."""
    c = Circuit(sim.cfg)
    N, k = c.N, c.N - 1
    if k < 1:
        raise ValueError("error signals need a hidden layer")
    st = solve(sim.net, c, X, None, method="exact")
    d = (R_target - st.r[N]) * c.dphi(N, st.u[N])
    dk = c.dphi(k, st.u[k])
    return (d @ sim.net.w(f"down{k}").T) * dk, (d @ sim.net.w(f"up{N}")) * dk


def error_signal_angles(sim, X, R_target) -> np.ndarray:
    """Per pattern, the angle (degrees) between the two :func:`error_signals`: Lillicrap et
    al. (2016)'s measure of feedback alignment, ~90 deg for top-down weights unrelated to the
    forward ones, 0 for W_down = W_up^T. The weight angle of Fig. S1
    (:func:`dendrosim.plot.alignment_angle`) compares the matrices themselves."""
    fa, bp = error_signals(sim, X, R_target)
    cos = np.sum(fa * bp, axis=1) / (np.linalg.norm(fa, axis=1) * np.linalg.norm(bp, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
