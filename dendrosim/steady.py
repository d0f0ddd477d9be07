"""Steady state of the microcircuit for a held input and target (the discrete limit).

The network, conductances, transfer functions and weights are those of the
continuous engine (:mod:`dendrosim.engine.rhs`); only the time derivative is set
to zero. For an input pattern held long enough, r_0 = pattern (the tau_in filter
has settled) and every soma sits at the fixed point of paper eqs. 1-2
(research notes sec. 1.8):

- hidden pyramidal, eq. 1:   u_k  = (g_B v_B + g_A v_A) / (g_l + g_B + g_A)
- output, eq. 2 with target: u_N  = (g_B v_B + g_som u_tgt) / (g_l + g_B + g_som)
  (conductance nudging: the rectified g_exc, g_inh of :func:`nudging_current`)
- output without target:     u_N  = g_B v_B / (g_l + g_B)
- interneuron, eq. 2:        u_I,k = (g_D v_I + g_som u_{k+1}) / (g_l + g_D + g_som)

with the instantaneous dendrites of eqs. 3-5 (v_B = W_up r_{k-1} + b,
v_A = W_down r_{k+1} + W_PI r_I, v_I = W_IP r_k + b_IP) and interneurons of
layer k using the transfer function of layer k+1, as in the engine.

Two solvers, vectorised over a mini-batch (rows of ``x``):

``exact``
    The fixed point of the same ODEs, by Gauss-Seidel sweeps (up, then down)
    started from the two-sweep state, iterated until no potential changes by
    more than ``tol`` or, with the observed contraction rate q < 1/2, the
    a-posteriori error bound change q/(1-q) is below ``tol``. The input layer's basal potential W_up1 r_0 is computed
    once. If the sweeps do not contract (strong loops, paper pitfall 10),
    :class:`NoFixedPoint` is raised.

``two_sweep``
    The paper's MNIST approximation (research notes sec. 4(c), steps 1-4),
    with the two caveats handled: (i) every compartment uses its exact closed
    form above (attenuation and leak kept) instead of the convex mixture; (ii)
    the upward sweep sets each soma to its *no-apical* value (hidden
    a_hid v_B, output a_out v_B or the nudged value, interneuron a_I v_I), and
    the plasticity's v-hat is exactly that value, so a network in the
    self-predicting state without a target has zero error. The downward sweep
    then mixes in the apical input once; lower layers are not revisited.

``convex``
    The two-sweep as the paper prints it: u = v_B going up (hidden, and v_I for the
    interneurons), so the free prediction is the plain feedforward net, then the convex
    mixtures u_N = (1 - l_N) v_B + l_N u_tgt, u_I = (1 - l_I) v_I + l_I u_{k+1},
    u_k = (1 - l_k) v_B + l_k v_A with the conductance ratios l = g_som/(g_B+g_som),
    g_som/(g_D+g_som), g_A/(g_B+g_A): no leak. Caveat (ii) decides v-hat: the scheme's own
    no-apical value (1 - l_k) v_B of the downward mixture, so that its self-predicting state
    (W_IP = (1 - l_{k+1}) W_up, 1 at the output; set by the network initialisation for
    this scheme) has zero error without a target. (``Circuit`` of such a config: g_l = 0 and
    :meth:`Circuit.up` = 1; otherwise the code of ``two_sweep``.)

:func:`plasticity` evaluates eqs. 7-10 at a solved state without the tau_w
filter (the filter is a low-pass of a constant here), averaged over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import blas as _blas

from .model.transfer import dphi_np, phi_np


class NoFixedPoint(RuntimeError):
    """The steady-state iteration did not converge (no stable fixed point reachable)."""


def is_convex(cfg) -> bool:
    """Whether ``cfg`` asks for the paper's printed two-sweep ([learner] steady = "convex")."""
    return (cfg.learner or {}).get("steady") == "convex"


class Circuit:
    """Conductances and transfer functions of a config (everything but the weights)."""

    def __init__(self, cfg):
        c, nw = cfg.conductances, cfg.network
        self.g_l, self.g_B, self.g_A, self.g_D, self.g_som = c.g_l, c.g_B, c.g_A, c.g_D, c.g_som
        self.nudging = c.nudging
        self.E_exc, self.E_inh = c.E_exc, c.E_inh
        self.transfers = tuple(nw.transfer)          # layers 1..N
        self.tp = dict(gamma=nw.gamma, beta=nw.beta, theta=nw.theta)
        self.N = len(nw.sizes) - 1
        # [learner] steady = "convex": the paper's two-sweep as printed (notes sec. 4(c) (i)):
        # no leak and no attenuation, so u = v_B on the way up, convex mixtures on the way down
        self.convex = is_convex(cfg)
        if self.convex:
            self.g_l = 0.0

    # transfer of layer k (interneurons of layer k use k+1)
    def phi(self, k, u):
        return phi_np(u, self.transfers[k - 1], **self.tp)

    def dphi(self, k, u):
        return dphi_np(u, self.transfers[k - 1], **self.tp)

    def att(self, k):
        """v-hat factor of layer k: g_B/(g_l+g_B+g_A), g_A = 0 at the output (eq. 7)."""
        return self.g_B / (self.g_l + self.g_B + (self.g_A if k < self.N else 0.0))

    def up(self, k):
        """Soma of layer k per unit v_B on the way up (and in the free feedforward net):
        :meth:`att`, or 1 in the convex form (the paper's u = v_B)."""
        return 1.0 if self.convex else self.att(k)

    @property
    def att_I(self):
        """v-hat factor of interneurons: g_D/(g_l+g_D) (eq. 8)."""
        return self.g_D / (self.g_l + self.g_D)

    def nudged(self, num, den, u_tgt):
        """Fixed point (num + nudging)/(den + nudging conductance) towards ``u_tgt``.

        ``num`` = sum of g v over the dendrites, ``den`` = g_l + sum of g (sec. 1.4).
        """
        if self.nudging == "current":
            return (num + self.g_som * u_tgt) / (den + self.g_som)
        dE = self.E_exc - self.E_inh
        g_exc = np.maximum(self.g_som * (u_tgt - self.E_inh) / dE, 0.0)
        g_inh = np.maximum(-self.g_som * (u_tgt - self.E_exc) / dE, 0.0)
        return (num + g_exc * self.E_exc + g_inh * self.E_inh) / (den + g_exc + g_inh)


@dataclass
class State:
    """Potentials at the steady state; lists indexed by layer k (entry 0 unused
    except ``r[0]`` = input rates), interneuron quantities by hidden layer k."""

    u: list
    r: list
    vB: list
    vA: dict = field(default_factory=dict)
    uI: dict = field(default_factory=dict)
    rI: dict = field(default_factory=dict)
    vI: dict = field(default_factory=dict)
    vhat: list = field(default_factory=list)     # v-hat of eq. 7 used by plasticity
    vhat_I: dict = field(default_factory=dict)   # v-hat of eq. 8
    target: np.ndarray | None = None
    out_ff: np.ndarray | None = None              # output of the attenuated feedforward net
    iterations: int = 0
    change: float = 0.0                           # last max |delta u| (exact solver)


class Weights:
    """Plain views of a :class:`~dendrosim.network.Network`'s weights, by layer."""

    def __init__(self, net):
        N = net.depth
        self.N = N
        self.by_name = net.weights()      # name -> view, looked up once (net.w costs ~20 us a call)
        w, bias = self.by_name, net.layout.bias
        self.up = [None] + [w[f"up{k}"] for k in range(1, N + 1)]
        self.b_up = [None] + [w[f"b_up{k}"] if bias else None for k in range(1, N + 1)]
        self.down = [None] + [w[f"down{k}"] for k in range(1, N)]
        self.PI = [None] + [w[f"PI{k}"] for k in range(1, N)]
        self.IP = [None] + [w[f"IP{k}"] for k in range(1, N)]
        self.b_IP = [None] + [w[f"b_IP{k}"] if bias else None for k in range(1, N)]
        # W_PI = -W_down exactly (self-predicting init, both fixed): v_A = W_down (r_{k+1} - r_I),
        # one mat-mul instead of two. Only set by callers that keep PI and down fixed.
        self.pi_is_minus_down = [False] * N

    def detect_pi_minus_down(self):
        for k in range(1, self.N):
            self.pi_is_minus_down[k] = bool(np.array_equal(self.PI[k], -self.down[k]))


def _basal(W, k, r_prev):
    v = r_prev @ W.up[k].T
    if W.b_up[k] is not None:
        v += W.b_up[k]
    return v


def _vI(W, k, r_k):
    v = r_k @ W.IP[k].T
    if W.b_IP[k] is not None:
        v += W.b_IP[k]
    return v


def _vA(W, k, r_next, r_I):
    if W.pi_is_minus_down[k]:
        return (r_next - r_I) @ W.down[k].T
    return r_next @ W.down[k].T + r_I @ W.PI[k].T


def _as_batch(a, dtype):
    a = np.asarray(a, dtype=dtype)
    return a[None, :] if a.ndim == 1 else a


def two_sweep(net, circ: Circuit, x, target=None, W: Weights | None = None) -> State:
    """The paper's two-sweep approximation (sec. 4(c)) with caveats (i)-(ii) handled."""
    W = W or Weights(net)
    N, c = net.depth, circ
    x = _as_batch(x, net.dtype)
    tgt = None if target is None else _as_batch(target, net.dtype)
    u, r, vB, vhat = [None] * (N + 1), [x] + [None] * N, [None] * (N + 1), [None] * (N + 1)
    st = State(u, r, vB, vhat=vhat, target=tgt)
    # step 1: upward sweep with no-apical values
    for k in range(1, N + 1):
        vB[k] = _basal(W, k, r[k - 1])
        vhat[k] = c.att(k) * vB[k]
        if k == N and tgt is not None:
            u[k] = c.nudged(c.g_B * vB[k], c.g_l + c.g_B, tgt)          # step 2
        else:
            u[k] = c.up(k) * vB[k]
        r[k] = c.phi(k, u[k])
        if k < N:
            st.vI[k] = _vI(W, k, r[k])
            st.vhat_I[k] = c.att_I * st.vI[k]
            st.uI[k] = st.vhat_I[k]
    # the upward sweep is the (attenuated) feedforward net: its output is the free prediction
    st.out_ff = c.up(N) * vB[N]
    # step 3: downward sweep, lower layers not revisited
    for k in range(N - 1, 0, -1):
        st.uI[k] = c.nudged(c.g_D * st.vI[k], c.g_l + c.g_D, u[k + 1])
        st.rI[k] = c.phi(k + 1, st.uI[k])
        st.vA[k] = _vA(W, k, r[k + 1], st.rI[k])
        u[k] = (c.g_B * vB[k] + c.g_A * st.vA[k]) / (c.g_l + c.g_B + c.g_A)
        r[k] = c.phi(k, u[k])
    st.iterations = 1
    return st


def exact(net, circ: Circuit, x, target=None, tol=1e-10, max_iter=500, W: Weights | None = None,
          start: State | None = None) -> State:
    """The exact fixed point of eqs. 1-5 by Gauss-Seidel sweeps (see module doc).

    ``tol``: max |change| of any potential between sweeps; raised to the resolution of the
    state's dtype, 8 eps max(1, |u|) (float32 cannot resolve the default 1e-10)."""
    W = W or Weights(net)
    eps8 = 8.0 * float(np.finfo(net.dtype).eps)
    N, c = net.depth, circ
    st = start if start is not None else two_sweep(net, circ, x, target, W)
    u, r, vB, tgt = st.u, st.r, st.vB, st.target
    if N == 1:
        st.iterations, st.change = 1, 0.0
        return st
    g_hid = c.g_l + c.g_B + c.g_A
    g_Ileak = c.g_l + c.g_D
    prev_change = np.inf
    for it in range(1, max_iter + 1):
        change = 0.0
        # upward: basal input from the layer below, soma with the current apical input
        for k in range(1, N + 1):
            if k > 1:
                vB[k] = _basal(W, k, r[k - 1])
            if k < N:
                new = (c.g_B * vB[k] + c.g_A * st.vA[k]) / g_hid
            elif tgt is not None:
                new = c.nudged(c.g_B * vB[k], c.g_l + c.g_B, tgt)
            else:
                new = c.att(k) * vB[k]
            change = max(change, float(np.max(np.abs(new - u[k]))))
            u[k] = new
            r[k] = c.phi(k, new)
        # downward: interneurons (dendrite from r_k, nudged by u_{k+1}), apical, soma
        for k in range(N - 1, 0, -1):
            st.vI[k] = _vI(W, k, r[k])
            new = c.nudged(c.g_D * st.vI[k], g_Ileak, u[k + 1])
            change = max(change, float(np.max(np.abs(new - st.uI[k]))))
            st.uI[k] = new
            st.rI[k] = c.phi(k + 1, new)
            st.vA[k] = _vA(W, k, r[k + 1], st.rI[k])
            new = (c.g_B * vB[k] + c.g_A * st.vA[k]) / g_hid
            change = max(change, float(np.max(np.abs(new - u[k]))))
            u[k] = new
            r[k] = c.phi(k, new)
        st.iterations, st.change = it + 1, change
        tol_it = max(tol, eps8 * max(1.0, max(float(np.max(np.abs(u[k]))) for k in range(1, N + 1))))
        # stop when the iterate is within tol of the fixed point: the last change, or the
        # a-posteriori bound change * q / (1 - q) with the observed contraction rate q
        q = change / prev_change if 0 < prev_change < np.inf else 1.0
        if change <= tol_it or (q < 0.5 and change * q / (1.0 - q) <= tol_it):
            break
        if not np.isfinite(change) or (it > 50 and change > prev_change * 1.5 and change > 1.0):
            raise NoFixedPoint(f"steady state diverges (max change {change:.3g} after {it} sweeps)")
        prev_change = change
    else:
        raise NoFixedPoint(f"steady state not reached to tol {tol:g} in {max_iter} sweeps "
                           f"(last change {change:.3g})")
    # v-hat (eqs. 7-8) from the last basal and interneuron dendrites (consistent with the
    # final potentials to within the tolerance)
    for k in range(1, N + 1):
        st.vhat[k] = c.att(k) * vB[k]
        if k < N:
            st.vhat_I[k] = c.att_I * st.vI[k]
    return st


def solve(net, circ: Circuit, x, target=None, method="exact", tol=1e-10, max_iter=500,
          W: Weights | None = None) -> State:
    """Steady state for input rates ``x`` ((n0,) or (batch, n0)) and voltage target."""
    if (method == "convex") != circ.convex:
        raise ValueError("steady-state method 'convex' needs a Circuit of a config with "
                         "[learner] steady = \"convex\", and only that method can use one")
    if method == "exact":
        return exact(net, circ, x, target, tol, max_iter, W)
    if method in ("two_sweep", "convex"):
        return two_sweep(net, circ, x, target, W)
    raise ValueError(f"unknown steady-state method {method!r} (exact, two_sweep, convex)")


def _errors(st: State, net, circ: Circuit, groups, W: Weights):
    """(name, postsynaptic error (B, n_post), presynaptic rates (B, n_pre) or None for a bias)."""
    N, c = net.depth, circ
    for k in range(1, N + 1):
        if "up" in groups:
            err = st.r[k] - c.phi(k, st.vhat[k])                            # eq. 7
            yield f"up{k}", err, st.r[k - 1]
            if W.b_up[k] is not None:
                yield f"b_up{k}", err, None
        if k == N:
            continue
        if "IP" in groups:
            err = st.rI[k] - c.phi(k + 1, st.vhat_I[k])                     # eq. 8
            yield f"IP{k}", err, st.r[k]
            if W.b_IP[k] is not None:
                yield f"b_IP{k}", err, None
        if "PI" in groups:
            yield f"PI{k}", -st.vA[k], st.rI[k]                            # eq. 9
        if "down" in groups:
            err = st.r[k] - c.phi(k, st.r[k + 1] @ W.down[k].T)             # eq. 10
            yield f"down{k}", err, st.r[k + 1]


def plasticity(st: State, net, circ: Circuit, groups=("up", "IP", "PI", "down"),
               reduce="mean", W: Weights | None = None) -> dict:
    """Plasticity induction terms of eqs. 7-10 at a steady state, as the engine defines them.

    - up{k}:   (phi_k(u_k) - phi_k(vhat_B,k)) r_{k-1}^T, vhat = g_B/(g_l+g_B+g_A) v_B (g_A = 0 at N)
    - IP{k}:   (phi_{k+1}(u_I) - phi_{k+1}(vhat_I)) r_k^T, vhat_I = g_D/(g_l+g_D) v_I
    - PI{k}:   -v_A r_I^T
    - down{k}: (phi_k(u_k) - phi_k(W_down r_{k+1})) r_{k+1}^T
    Bias groups get the error itself (presynaptic rate 1). Summed or averaged over the batch.
    """
    W = W or Weights(net)
    scale = 1.0 / st.r[0].shape[0] if reduce == "mean" else 1.0
    return {name: scale * (err.sum(axis=0) if pre is None else err.T @ pre)
            for name, err, pre in _errors(st, net, circ, groups, W)}


def implicit_ip_error(st: State, circ: Circuit, k: int, rate: float, rate_b: float) -> np.ndarray:
    """Post factor of the IP rule (eq. 8) for one linearly implicit (backward Euler) step.

    Eq. 8 is a delta rule: the interneuron error e = phi(u_I) - phi(vhat_I) falls as W_IP moves,
    de/dv_I = -s with s = phi'(vhat_I) a_I - phi'(u_I) du_I/dv_I > 0, so the explicit step
    Delta W = rate e r^T overshoots once rate s |r|^2 > 2 (the interneuron-tracking cap of the
    MNIST runs). The implicit step uses the error after the update instead,
    e' = e - s (Delta W r + Delta b), with Delta W = rate e'^T r, Delta b = rate_b sum e':
    per interneuron i, (I + diag(s_i) K) e'_i = e_i over the batch, K = rate R R^T + rate_b
    (B x B, Woodbury form of the (n_k+1)-sized system). Stable for any rate; the same update
    as the explicit one to first order in the rate. ``rate``, ``rate_b``: per-sample factors
    (the batch mean's 1/B included). Returns e' (B, n_I)."""
    c = circ
    e = st.rI[k] - c.phi(k + 1, st.vhat_I[k])
    u_next = st.u[k + 1]
    den = c.g_l + c.g_D
    du_dv = c.nudged(c.g_D, den, u_next) - c.nudged(0.0, den, u_next)     # nudged() is linear in num
    s = c.dphi(k + 1, st.vhat_I[k]) * c.att_I - c.dphi(k + 1, st.uI[k]) * du_dv
    R = st.r[k]
    K = rate * (R @ R.T) + rate_b                                          # (B, B)
    B = K.shape[0]
    M = np.eye(B, dtype=K.dtype)[None] + s.T[:, :, None] * K[None]        # (n_I, B, B)
    return np.linalg.solve(M, e.T[:, :, None])[:, :, 0].T


def apply_plasticity(st: State, net, circ: Circuit, rates: dict, reduce="mean",
                     W: Weights | None = None, ip_update: str = "explicit") -> None:
    """W += rate * G for every group with a non-zero rate, in place (one BLAS gemm per matrix,
    no temporary the size of the weights); same G as :func:`plasticity`. ``ip_update =
    "implicit"`` takes the IP groups' post factor from :func:`implicit_ip_error`."""
    W = W or Weights(net)
    scale = 1.0 / st.r[0].shape[0] if reduce == "mean" else 1.0
    groups = {n.rstrip("0123456789").removeprefix("b_") for n, r in rates.items() if r != 0.0}
    implicit = {}
    if ip_update == "implicit" and "IP" in groups:
        for k in range(1, net.depth):
            rb = rates.get(f"b_IP{k}", 0.0) if W.b_IP[k] is not None else 0.0
            implicit[k] = implicit_ip_error(st, circ, k, rates.get(f"IP{k}", 0.0) * scale, rb * scale)
    elif ip_update != "explicit":
        raise ValueError(f"ip_update must be 'explicit' or 'implicit', got {ip_update!r}")
    for name, err, pre in _errors(st, net, circ, groups, W):
        rate = rates.get(name, 0.0)
        if rate == 0.0:
            continue
        if implicit and name.removeprefix("b_").startswith("IP"):
            err = implicit[int(name.removeprefix("b_")[2:])]
        target = W.by_name[name]
        if pre is None:
            target += (rate * scale) * err.sum(axis=0)
        else:
            rank_update(target, rate * scale, err, pre)


def rank_update(Wm, alpha, a, b) -> None:
    """Wm += alpha a^T b in place, a (B, n_post), b (B, n_pre); a single gemm with beta = 1
    on the Fortran-ordered view Wm^T of the row-major weights (falls back to NumPy)."""
    gemm = _GEMM.get(Wm.dtype)
    if gemm is not None and Wm.flags.c_contiguous:
        WT = Wm.T
        out = gemm(alpha, b, a, beta=1.0, c=WT, trans_a=1, overwrite_c=1)
        if out.ctypes.data != WT.ctypes.data:      # f2py had to copy: write back
            Wm[...] = out.T
        return
    Wm += alpha * (a.T @ b)


_GEMM = {np.dtype(np.float64): _blas.dgemm, np.dtype(np.float32): _blas.sgemm}


def feedforward(net, circ: Circuit, x, W: Weights | None = None):
    """The attenuated feedforward net (lateral and top-down deleted; sec. 5.1):
    u^-_k = a_k (W_up r_{k-1} + b), a_k = g_B/(g_l+g_B+g_A) (g_A = 0 at the output).

    It is also the steady state without target in the self-predicting state.
    Returns (u, r) lists indexed by layer (u[0] = None, r[0] = x).
    """
    W = W or Weights(net)
    N = net.depth
    x = _as_batch(x, net.dtype)
    u, r = [None] * (N + 1), [x] + [None] * N
    for k in range(1, N + 1):
        u[k] = circ.up(k) * _basal(W, k, r[k - 1])
        r[k] = circ.phi(k, u[k])
    return u, r
