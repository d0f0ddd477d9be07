"""The discrete limit, measured (research notes sacramento2018.md sec. 5.2).

A network in the self-predicting state (sigma = 0) is shown one input with the
output target on. The update direction of the forward weights,

- at the exact steady state: G_up,k = (phi(u_k) - phi(vhat_B,k)) r_{k-1}^T (eq. 7), or
- accumulated by the continuous engine over one long presentation (tau_w = 0,
  tiny eta, plasticity off during the first ``lag`` ms so the settling transient
  does not count: pitfall 9),

is compared with the discrete update of the attenuated feedforward net:
delta_N = phi'(u-_N)(u_tgt - u-_N) (``output_dphi``), delta_k = phi'(u-_k) F_k delta_{k+1}
with F_k = W_{k+1}^T (top-down = transpose: BP) or F_k = B_k = down{k} (fixed random
top-down: FA with the same B). g_A and g_som are scaled by ``s``; the angle should
fall linearly in the mixing factor lambda ~ s.
"""

from __future__ import annotations

import math

import numpy as np

from . import config, steady
from .learners.rules import make_learner
from .network import Layout, Network, build_network
from .simulation import MemorySink, Simulation


def angle(a, b) -> float:
    """Angle in degrees between vec(a) and vec(b), accurate for tiny angles."""
    a, b = np.ravel(a), np.ravel(b)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return math.degrees(2.0 * math.atan2(np.linalg.norm(a - b), np.linalg.norm(a + b)))


def limit_config(s, sizes=(30, 20, 10), transfer="logistic", top_down="transpose", seed=0,
                 duration=300.0, lag=100.0, eta=1e-7, dt=0.1, x=None, target=None):
    """Config of the sec. 5.2 check: paper conductances with g_A, g_som scaled by s."""
    N = len(sizes) - 1
    d = {
        "network": {"sizes": list(sizes), "transfer": transfer, "tau_in": 3.0},
        "conductances": {"g_l": 0.1, "g_B": 1.0, "g_A": 0.8 * s, "g_D": 1.0, "g_som": 0.8 * s},
        "plasticity": {"eta_up": list(eta) if isinstance(eta, (list, tuple)) else [eta] * N, "tau_w": 0.0, "lag": lag},
        "simulation": {"dt": dt, "integrator": "euler"},
        "noise": {"sigma": 0.0},
        "init": {"seed": seed, "self_predicting": True, "top_down": top_down, "scale": 1.0},
        "task": {"kind": "single_pattern", "n_repeats": 1, "duration": duration, "target_from": 0},
        "record": {"variables": [], "weights_every": 0},
    }
    if x is not None:
        d["task"]["input"] = [float(v) for v in x]
    if target is not None:
        d["task"]["target"] = [float(v) for v in target]
    return config.from_dict(d)


def pattern(sizes, seed):
    """Input rates U(0, 1) and voltage target U(-1, 1) (drawn once per seed)."""
    rng = np.random.default_rng(10_000 + seed)
    return rng.uniform(0, 1, sizes[0]), rng.uniform(-1, 1, sizes[-1])


def reference_update(net, circ, x, target, rule, output_dphi=True):
    """Discrete BP/FA update directions Delta W_k = delta_k r_{k-1}^T on the feedforward net."""
    cfg_opts = {"eta": 1.0, "batch_size": 1, "reduce": "sum", "output_dphi": output_dphi,
                "update_order": "simultaneous", "feedback": "network", "feedback_scale": 0.25,
                "post_factor": "derivative", "post_noise": 0.0, "error_noise": 0.0,
                "error_noise_to": "hidden"}
    lrn = make_learner(rule, net, circ, cfg_opts, np.random.default_rng(0))
    u, r = lrn.forward(x)
    d = lrn.deltas(u, np.asarray(target)[None, :])
    return {k: d[k].T @ r[k - 1] for k in range(1, net.depth + 1)}


def measure(s, sizes=(30, 20, 10), transfer="logistic", top_down="transpose", seed=0,
            engine=False, output_dphi=True, duration=300.0, lag=100.0):
    """Angles (degrees) per layer between the microcircuit's update and BP/FA.

    Returns {"steady": {k: angle}, "engine": {k: angle} (if engine), "ratio": ||dW_1||/||dW_N||,
    "lambda": lambda_A}.
    """
    x, t = pattern(sizes, seed)
    cfg = limit_config(s, sizes, transfer, top_down, seed, duration, lag, x=x, target=t)
    layout = Layout.build(sizes, cfg.network.transfer, False, traces=False)
    ch = np.random.SeedSequence(seed).spawn(3)
    net = build_network(cfg, layout, np.float64, np.random.default_rng(ch[0]))
    circ = steady.Circuit(cfg)
    N = len(sizes) - 1
    ref = reference_update(net.copy(), circ, x, t, "bp" if top_down == "transpose" else "fa", output_dphi)
    st = steady.exact(net, circ, x, t, tol=1e-15, max_iter=10_000)
    G = steady.plasticity(st, net, circ, groups=("up",))
    out = {"s": s, "lambda": cfg.conductances.g_A / (0.1 + 1.0 + cfg.conductances.g_A),
           "steady": {k: angle(G[f"up{k}"], ref[k]) for k in range(1, N + 1)},
           "ratio": float(np.linalg.norm(G["up1"]) / np.linalg.norm(G[f"up{N}"]))}
    if engine:
        # One run per layer with only up{k} plastic (moving up{k+1} would break the
        # self-predicting match IP = c up{k+1}). eta_k such that each Euler step adds
        # ~1e-12 to the largest entry of up{k}. Two float64 limits bound the choice: the
        # increments must stay well above the spacing of weights of order 1 (~1e-16; a tiny
        # common eta leaves the hidden increments at s = 0.01 within a few ulp, and that
        # rounding is systematic), and the soma lags the moving basal input by tau dv/dt,
        # an error proportional to eta that is not small against a hidden signal of
        # order lambda^2 (soft-ReLU, s = 0.01: ~1e-9 of potential). 1e-12 balances both.
        dW = {}
        for k in range(1, N + 1):
            eta = [0.0] * N
            eta[k - 1] = 1e-12 / (cfg.simulation.dt * float(np.max(np.abs(G[f"up{k}"]))))
            sim_cfg = limit_config(s, sizes, transfer, top_down, seed, duration, lag, eta=eta, x=x, target=t)
            sim = Simulation(sim_cfg, net=_with_traces(net, sim_cfg))
            W0 = sim.net.w(f"up{k}").copy()
            sim.run(MemorySink())
            dW[k] = sim.net.w(f"up{k}") - W0
        out["engine"] = {k: angle(dW[k], ref[k]) for k in range(1, N + 1)}
        out["engine_vs_steady"] = {k: angle(dW[k], G[f"up{k}"]) for k in range(1, N + 1)}
    return out


def _with_traces(net, cfg):
    """The same weights in a network with the layout the engine builds for ``cfg``."""
    lay = Layout.build(cfg.network.sizes, cfg.network.transfer, cfg.network.bias,
                       traces=cfg.plasticity.tau_w > 0)
    out = Network(lay, net.dtype)
    for name, w in net.weights().items():
        out.w(name)[...] = w
    return out


def table(scales=(1.0, 0.3, 0.1, 0.01), engine=True, seed=0, sizes=(30, 20, 10)):
    """Rows of the sec. 5.2 table: one dict per s."""
    rows = []
    for s in scales:
        bp = measure(s, sizes, "logistic", "transpose", seed, engine)
        nod = measure(s, sizes, "logistic", "transpose", seed, False, output_dphi=False)
        sr = measure(s, sizes, "soft_relu", "transpose", seed, engine)
        fa = measure(s, sizes, "logistic", "random", seed, engine)
        rows.append({"s": s, "lambda": bp["lambda"], "bp": bp, "bp_no_dN": nod, "soft_relu": sr, "fa": fa})
    return rows


__all__ = ["angle", "limit_config", "measure", "pattern", "reference_update", "table"]
