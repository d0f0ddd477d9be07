"""Discrete learners on the microcircuit's network object (Konishi et al. 2023 rules).

Every learner acts on the *same* :class:`~dendrosim.network.Network` the
continuous engine integrates: the forward weights ``up{k}``/``b_up{k}``, the
transfer function of each layer and the conductances. The forward pass is the
attenuated feedforward net u_k = a_k (W_up,k r_{k-1} + b_k) (research notes
sec. 5.1), i.e. the microcircuit's steady state without target in the
self-predicting state; with g_l = g_A = 0 (models/konishi2023) a_k = 1 and it
is the plain two-layer net of Konishi et al. The feedback matrix of FA and
FA_Ex is the network's own top-down weight ``down{k}`` (shape n_k x n_{k+1}),
so B is stored, snapshotted and plotted like any other weight.

Output error and deltas (delta = -dL/du, L = 1/2 ||u_tgt - u_N||^2 per sample):

    e = u_tgt - u_N                      (Konishi's e = y2 - y is -e)
    delta_N = phi'_N(u_N) e              (``output_dphi = false``: delta_N = e)
    delta_k = post_k(u_k) * (a_{k+1} delta_{k+1} F_k^T)
    Delta W_k = eta_k a_k delta_k^T r_{k-1},  Delta b_k = eta_k a_k sum(delta_k)

with F_k = W_{k+1}^T (bp), F_k = B_k = down{k} (fa), B_k = +-b per neuron
(fa_ex), and no hidden update (elm). With ``output_dphi = true`` delta_N is the
gradient of the matching (Bregman) loss of phi_N, which is what the microcircuit
computes in the limit (sec. 5.1); for a linear output both agree.
post_k = phi'_k by default; the robustness variants of Konishi sec. 4.2 replace
it (``post_factor``) and add noise to it (``post_noise``) or to the error
(``error_noise``). WP (weight perturbation) estimates the gradient from the
change in loss under a Gaussian perturbation of all forward parameters.
"""

from __future__ import annotations

import numpy as np

from .. import steady
from ..network import sps_ip_factor

RULES = ("bp", "fa", "fa_ex", "elm", "wp", "dendritic")


def _reduce(a, how):
    return a.sum(axis=0) if how == "sum" else a.mean(axis=0)


class Learner:
    """Base: holds the network, its circuit constants and the learner options."""

    rule = "base"

    def __init__(self, net, circ: steady.Circuit, opts: dict, rng: np.random.Generator, plasticity=None):
        self.net, self.circ, self.o, self.rng = net, circ, opts, rng
        self.W = steady.Weights(net)
        N = net.depth
        self.N = N
        eta = opts["eta"]
        self.eta = list(eta) if isinstance(eta, (list, tuple)) else [eta] * N
        self.eta = [None] + [float(e) for e in self.eta]
        self.a = [None] + [circ.att(k) for k in range(1, N + 1)]
        self._fixed_noise = {}
        self.rate_scale = 1.0        # set per update by the runner ([learner] anneal)

    # -- the attenuated feedforward net --------------------------------------------
    def forward(self, x):
        return steady.feedforward(self.net, self.circ, x, self.W)

    def loss(self, x, target):
        """1/2 ||u_tgt - u_N||^2 per sample, reduced over the batch as configured."""
        u, _ = self.forward(x)
        return float(_reduce(0.5 * np.sum((target - u[-1]) ** 2, axis=1), self.o["reduce"]))

    # -- pieces shared by the gradient-like rules ------------------------------------
    def post_factor(self, k, u):
        """Postsynaptic factor of hidden layer k: phi'_k(u) or a Konishi sec. 4.2 variant."""
        o, c = self.o, self.circ
        kind = o["post_factor"]
        if kind == "derivative":
            g = c.dphi(k, u)
        elif kind == "shifted":
            g = c.dphi(k, u + o["post_shift"]) + o["post_offset"]
        elif kind == "ramp":
            g = np.clip((u + 0.5 * o["ramp_width"]) / o["ramp_width"], 0.0, 1.0)
        elif kind == "sigmoid":
            g = 0.5 * (1.0 + np.tanh(0.5 * o["sigmoid_gain"] * u))
        elif kind == "rate":
            g = c.phi(k, u)
        elif kind == "one":
            g = np.ones_like(u)
        else:  # validated in options
            raise ValueError(kind)
        s = o["post_noise"]
        if s > 0:
            if o["post_noise_mode"] == "fixed":
                if k not in self._fixed_noise:   # drawn once per run, per batch slot and neuron
                    self._fixed_noise[k] = s * self.rng.standard_normal((o["batch_size"], u.shape[1]))
                g = g + self._fixed_noise[k][: u.shape[0]]
            else:
                g = g + s * self.rng.standard_normal(u.shape)
        return g

    def output_error(self, u_N, target):
        """(e for the output layer, e for the hidden layers), with optional error noise."""
        e = target - u_N
        s = self.o["error_noise"]
        if s > 0:
            noisy = e + s * self.rng.standard_normal(e.shape)
            return (noisy if self.o["error_noise_to"] == "both" else e), noisy
        return e, e

    def feedback(self, k):
        """F_k with delta_k = post * (a_{k+1} delta_{k+1} F_k^T); shape (n_k, n_{k+1})."""
        raise NotImplementedError

    def deltas(self, u, target, on_delta=None):
        """delta_k for k = 1..N (None where the rule has no hidden update).

        ``on_delta(k, delta_k)`` is called as soon as delta_k is known, before the
        feedback F_{k-1} is read: applying the update there gives Konishi's
        ``top_down`` order (W_k changes before the error passes back through it).
        """
        N, c = self.N, self.circ
        e_out, e_hid = self.output_error(u[N], target)
        dN = c.dphi(N, u[N]) if self.o["output_dphi"] else 1.0
        d = [None] * (N + 1)
        d[N] = dN * e_out
        if on_delta is not None:
            on_delta(N, d[N])
        hid = dN * e_hid
        for k in range(N - 1, 0, -1):
            F = self.feedback(k)
            if F is None:
                break
            hid = self.post_factor(k, u[k]) * ((self.a[k + 1] * hid) @ F.T)
            d[k] = hid
            if on_delta is not None:
                on_delta(k, hid)
        return d

    def apply(self, k, delta, r_prev):
        """W_k += eta a_k delta^T r_{k-1} (and the bias), batch-reduced."""
        s = self.rate_scale * self.eta[k] * self.a[k]
        s *= 1.0 if self.o["reduce"] == "sum" else 1.0 / delta.shape[0]
        self.W.up[k] += s * (delta.T @ r_prev)
        if self.W.b_up[k] is not None:
            self.W.b_up[k] += s * delta.sum(axis=0)

    def gradient_step(self, x, target):
        u, r = self.forward(x)
        if self.o["update_order"] == "top_down":     # Konishi's reference code
            self.deltas(u, target, on_delta=lambda k, dk: self.apply(k, dk, r[k - 1]))
            return u
        d = self.deltas(u, target)
        for k in range(1, self.N + 1):
            if d[k] is not None:
                self.apply(k, d[k], r[k - 1])
        return u

    def step(self, x, target):
        """One update on a batch; returns the pre-update output u_N (batch, n_N)."""
        return self.gradient_step(x, target)[-1]


class BP(Learner):
    """Backpropagation: F_k = W_{k+1}^T (exact gradient with post = phi')."""

    rule = "bp"

    def feedback(self, k):
        return self.W.up[k + 1].T


class FA(Learner):
    """Feedback alignment: F_k = B_k, the network's fixed top-down weights down{k}.

    ``feedback = "uniform"|"normal"`` redraws B_k ~ U(-s, s) / N(0, s^2) at the
    start of the run (Konishi: U(-0.25, 0.25)); ``"network"`` keeps the down
    weights the network was initialised with.
    """

    rule = "fa"

    def __init__(self, net, circ, opts, rng, plasticity=None):
        super().__init__(net, circ, opts, rng)
        fb, s = opts["feedback"], opts["feedback_scale"]
        for k in range(1, self.N):
            B = self.W.down[k]
            if fb == "uniform":
                B[...] = rng.uniform(-s, s, size=B.shape)
            elif fb == "normal":
                B[...] = rng.normal(0.0, s, size=B.shape)

    def feedback(self, k):
        return self.W.down[k]


def ex_signs(n, percent, rng):
    """+1 for exactly round(percent n / 100) randomly placed neurons, -1 for the rest."""
    n_pos = int(round(percent * n / 100.0))
    s = -np.ones(n)
    s[rng.permutation(n)[:n_pos]] = 1.0
    return s


class FAEx(FA):
    """FA_Ex-x%: the output error broadcast to every middle neuron with sign +b
    (x % 'excitatory' neurons, exactly round(x n/100), randomly placed) or -b.
    B_k[i, :] = s_i b is written into down{k}. FA_Ex-100%: Delta W1_ij = eta b e theta(I_i) x_j.
    """

    rule = "fa_ex"

    def __init__(self, net, circ, opts, rng, plasticity=None):
        Learner.__init__(self, net, circ, opts, rng)
        for k in range(1, self.N):
            B = self.W.down[k]
            B[...] = opts["ex_b"] * ex_signs(B.shape[0], opts["ex_percent"], rng)[:, None]


class ELM(Learner):
    """Extreme learning machine: hidden weights fixed, online delta rule at the output."""

    rule = "elm"

    def feedback(self, k):
        return None


class WP(Learner):
    """Weight perturbation (Jabri & Flower): xi ~ N(0, sigma^2) on every forward
    parameter (up{k}, b_up{k}); Delta theta = -eta (J(theta+xi) - J(theta)) xi / sigma^2,
    or with ``antithetic`` -eta (J(theta+xi) - J(theta-xi)) xi / (2 sigma^2).
    Two forward passes per update either way (the first also scores the trial).
    """

    rule = "wp"

    def params(self):
        ps = []
        for k in range(1, self.N + 1):
            ps.append((k, self.W.up[k]))
            if self.W.b_up[k] is not None:
                ps.append((k, self.W.b_up[k]))
        return ps

    def estimate(self, x, target):
        """(gradient estimate per parameter, pre-update output); weights left unchanged."""
        sig = self.o["wp_sigma"]
        ps = self.params()
        saved = [p.copy() for _, p in ps]
        xis = [sig * self.rng.standard_normal(p.shape) for _, p in ps]
        u, _ = self.forward(x)
        red = self.o["reduce"]
        if self.o["antithetic"]:
            for (_, p), p0, xi in zip(ps, saved, xis):
                p[...] = p0 - xi
            J0 = self.loss(x, target)
            denom = 2.0 * sig ** 2
        else:
            J0 = float(_reduce(0.5 * np.sum((target - u[-1]) ** 2, axis=1), red))
            denom = sig ** 2
        for (_, p), p0, xi in zip(ps, saved, xis):
            p[...] = p0 + xi
        J1 = self.loss(x, target)
        for (_, p), p0 in zip(ps, saved):
            p[...] = p0
        g = (J1 - J0) / denom
        return [g * xi for xi in xis], u[-1]

    def step(self, x, target):
        grads, y = self.estimate(x, target)
        for (k, p), gr in zip(self.params(), grads):
            p -= self.rate_scale * self.eta[k] * gr
        return y


class Dendritic(Learner):
    """Eqs. 7-10 evaluated at the microcircuit's steady state (exact or two-sweep),
    applied as Delta W = eta * duration * G with the [plasticity] rates (the
    continuous engine's Delta W over a presentation of ``duration`` ms at the
    fixed point, tau_w irrelevant)."""

    rule = "dendritic"

    def __init__(self, net, circ, opts, rng, plasticity=None):
        super().__init__(net, circ, opts, rng)
        p = plasticity
        N = self.N
        self.rates = {}
        fb = opts["bias_rate"]
        for k in range(1, N + 1):
            self.rates[f"up{k}"], self.rates[f"b_up{k}"] = p.eta_up[k - 1], fb * p.eta_up[k - 1]
        for k in range(1, N):
            self.rates[f"IP{k}"], self.rates[f"b_IP{k}"] = p.eta_IP[k - 1], fb * p.eta_IP[k - 1]
            self.rates[f"PI{k}"] = p.eta_PI[k - 1]
            self.rates[f"down{k}"] = p.eta_down[k - 1]
        if all(p.eta_PI[k - 1] == 0 and p.eta_down[k - 1] == 0 for k in range(1, N)):
            self.W.detect_pi_minus_down()        # fixed PI = -down: fused apical mat-mul
        self.last_state = None

    def step(self, x, target):
        """One mini-batch: ``exposures`` updates of eta * duration / exposures * G, each at the
        steady state of the weights left by the previous one. Returns the output before the first."""
        o = self.o
        n = o["exposures"]
        rates = {name: r * o["duration"] * self.rate_scale / n for name, r in self.rates.items()}
        sps = o["ip_update"] == "sps"       # the interneurons follow by construction, not by eq. 8
        if sps:
            rates = {name: r for name, r in rates.items() if not name.removeprefix("b_").startswith("IP")}
        for i in range(n):
            st = steady.solve(self.net, self.circ, x, target, o["steady"], o["tol"], o["max_iter"], self.W)
            if i == 0:
                # the prediction scored before the update: the free output (no teacher); in the
                # self-predicting state that is the attenuated feedforward output (the upward sweep)
                y = st.u[-1].copy() if target is None else st.out_ff
            steady.apply_plasticity(st, self.net, self.circ, rates, o["reduce"], self.W,
                                    "explicit" if sps else o["ip_update"])
            if sps:
                self._interneurons_to_sps()
        self.last_state = st
        return y

    def _interneurons_to_sps(self):
        """IP_k = c_k W_up{k+1} (and the thresholds likewise), c_k of network.sps_ip_factor: the
        self-predicting state's interneurons for the current forward weights ([learner] ip_update
        = "sps", a diagnostic of perfect tracking; the paper's interneurons learn by eq. 8)."""
        c, W = self.circ, self.W
        for k in range(1, self.N):
            f = sps_ip_factor(c.g_l, c.g_B, c.g_D, c.g_A if k + 1 < self.N else 0.0)
            np.multiply(W.up[k + 1], f, out=W.IP[k])
            if W.b_IP[k] is not None:
                np.multiply(W.b_up[k + 1], f, out=W.b_IP[k])


CLASSES = {"bp": BP, "fa": FA, "fa_ex": FAEx, "elm": ELM, "wp": WP, "dendritic": Dendritic}


def make_learner(rule, net, circ, opts, rng, plasticity=None) -> Learner:
    return CLASSES[rule](net, circ, opts, rng, plasticity)
