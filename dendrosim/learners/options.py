"""The free-form ``[learner]`` config section: keys, defaults, validation.

Every bad value raises ``ConfigError("learner.<key>", ...)``.
"""

from __future__ import annotations

import math

from ..config import ConfigError

ALL_RULES = ("continuous", "bp", "fa", "fa_ex", "elm", "wp", "dendritic")

# key: (default, kind, doc); kind is a type, a tuple of choices, or "eta"
KEYS = {
    "rule": ("continuous", ALL_RULES,
             '"continuous" = the time-continuous engine; bp, fa, fa_ex, elm, wp, dendritic = '
             "discrete learners at the fixed point"),
    "eta": (0.005, "eta", "learning rate of the discrete rules (one value or one per layer 1..N)"),
    "batch_size": (1, int, "samples per update (1 = online)"),
    "reduce": ("mean", ("mean", "sum"), "batch reduction of the update (Konishi's code: sum)"),
    "output_dphi": (True, bool, "output delta phi'(u_N) e (the microcircuit's limit) or e"),
    "update_order": ("simultaneous", ("simultaneous", "top_down"),
                     "top_down: update W_N before back-propagating through it (Konishi's code)"),
    "feedback": ("network", ("network", "uniform", "normal"),
                 "FA feedback B = down{k}: as initialised, or redrawn U(-s, s) / N(0, s^2)"),
    "feedback_scale": (0.25, float, "s of the FA feedback draw"),
    "ex_percent": (100.0, float, "FA_Ex: percentage of excitatory (+b) middle neurons"),
    "ex_b": (0.1, float, "FA_Ex: feedback magnitude b"),
    "wp_sigma": (1e-3, float, "WP perturbation s.d."),
    "antithetic": (False, bool, "WP: J(theta+xi) - J(theta-xi) instead of J(theta+xi) - J(theta)"),
    "post_factor": ("derivative", ("derivative", "shifted", "ramp", "sigmoid", "rate", "one"),
                    "hidden postsynaptic factor (Konishi sec. 4.2 robustness variants)"),
    "post_shift": (0.0, float, "shifted: phi'(u + shift) + offset"),
    "post_offset": (0.0, float, "shifted: constant added"),
    "ramp_width": (0.1, float, "ramp: 0 to 1 over u in [-w/2, w/2]"),
    "sigmoid_gain": (1.0, float, "sigmoid: 1/(1 + exp(-gain u))"),
    "post_noise": (0.0, float, "s.d. of Gaussian noise added to the post factor"),
    "post_noise_mode": ("vary", ("fixed", "vary"), "post-factor noise drawn once per run or per update"),
    "error_noise": (0.0, float, "s.d. of Gaussian noise on the error sent to the hidden layers"),
    "error_noise_to": ("hidden", ("hidden", "both"), "error noise on hidden layers only or also output"),
    "bias_scale": (0.0, float, "redraw forward biases U(-s, s) at the start (0 = keep [init]'s zeros)"),
    "steady": ("exact", ("exact", "two_sweep", "convex"),
               "dendritic: exact fixed point, two-sweep approximation with the exact compartment forms, or "
               "convex = the two-sweep as the paper prints it (no leak or attenuation; research notes 4(c) (i))"),
    "tol": (1e-10, float, "exact steady state: max |change| of any potential "
                          "(at least 8 eps |u| of the dtype)"),
    "max_iter": (500, int, "exact steady state: max sweeps"),
    "duration": (1.0, float, "dendritic: Delta W = eta * duration * G (ms at the fixed point)"),
    "exposures": (1, int, "dendritic: weight updates per mini-batch, each of 1/exposures of the rate and "
                          "each at the steady state of the updated weights (R-phll's n_exposures; the "
                          "pattern held while plasticity runs, as in the continuous engine)"),
    "ip_update": ("explicit", ("explicit", "implicit", "sps"),
                  "dendritic: the IP rule (eq. 8) as one explicit step per update (the paper's), a "
                  "linearly implicit one (backward Euler: stable at any rate, equal to first order), or "
                  "\"sps\": no IP rule, IP set to the self-predicting value c W_up of the layer above after "
                  "every update (a diagnostic of perfect interneuron tracking, not the paper's circuit)"),
    "bias_rate": (1.0, float, "dendritic: rate of the learnable thresholds (b_up, and b_IP that tracks them) "
                              "as a fraction of their layer's weight rate"),
    "anneal": (0.0, float, "learning rates fall linearly over the run by this fraction: the update u of U "
                           "is scaled by 1 - anneal * u / U (0 = constant rates, 1 = towards 0)"),
    "weights_every": (0, int, "weight snapshot every m updates (0 = initial and final only)"),
    "test_every": (1, int, "evaluate the task's test set every m updates (if it has one)"),
    "trials": ("all", ("all", "scores"),
               "per-trial record: all = outputs, targets, correct, label; scores = correct, label and "
               "squared error only (80 MNIST epochs: ~110 MB instead of ~800 MB)"),
}

POSITIVE = {"feedback_scale", "ex_b", "wp_sigma", "ramp_width", "tol"}
NONNEG = {"post_noise", "error_noise", "bias_scale", "duration", "anneal", "bias_rate"}


def options(cfg) -> dict:
    """Validated ``[learner]`` options with defaults filled in."""
    raw = dict(cfg.learner)
    for k in raw:
        if k not in KEYS:
            raise ConfigError(f"learner.{k}", f"unknown key; keys of [learner] are {sorted(KEYS)}")
    o = {}
    N = len(cfg.network.sizes) - 1
    for key, (default, kind, _doc) in KEYS.items():
        v = raw.get(key, default)
        name = f"learner.{key}"
        if isinstance(kind, tuple):
            if v not in kind:
                raise ConfigError(name, f"must be one of {list(kind)}, got {v!r}")
        elif kind == "eta":
            vals = v if isinstance(v, (list, tuple)) else [v]
            if isinstance(v, (list, tuple)) and len(v) != N:
                raise ConfigError(name, f"needs {N} values (one per layer), got {len(v)}")
            for e in vals:
                if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e) or e < 0:
                    raise ConfigError(name, f"must be a number >= 0 or a list of them, got {v!r}")
            v = [float(e) for e in v] if isinstance(v, (list, tuple)) else float(v)
        elif kind is bool:
            if not isinstance(v, bool):
                raise ConfigError(name, f"must be true or false, got {v!r}")
        elif kind is int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(name, f"must be an integer, got {v!r}")
        elif kind is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(name, f"must be a finite number, got {v!r}")
            v = float(v)
        o[key] = v
    for key in POSITIVE:
        if not o[key] > 0:
            raise ConfigError(f"learner.{key}", f"must be > 0, got {o[key]!r}")
    for key in NONNEG:
        if o[key] < 0:
            raise ConfigError(f"learner.{key}", f"must be >= 0, got {o[key]!r}")
    if o["anneal"] > 1:
        raise ConfigError("learner.anneal", f"must be in [0, 1] (rates would turn negative), "
                                            f"got {o['anneal']!r}")
    if not 0 <= o["ex_percent"] <= 100:
        raise ConfigError("learner.ex_percent", f"must be in [0, 100], got {o['ex_percent']!r}")
    for key in ("batch_size", "max_iter", "test_every", "exposures"):
        if o[key] < 1:
            raise ConfigError(f"learner.{key}", f"must be >= 1, got {o[key]!r}")
    if o["weights_every"] < 0:
        raise ConfigError("learner.weights_every", f"must be >= 0, got {o['weights_every']!r}")
    if cfg.simulation.integrator == "steady" and o["rule"] == "continuous":
        o["rule"] = "dendritic"       # integrator = "steady" alone means eqs. 7-10 at the fixed point
    if o["rule"] in ("fa", "fa_ex") and N < 2:
        raise ConfigError("learner.rule", f"{o['rule']!r} needs at least one hidden layer")
    return o
