"""Network shapes, the flat state layout, weight groups and initialisation.

Layers are k = 0..N: layer 0 is the input (rates only), 1..N-1 are hidden
(pyramidal cells with soma, basal and apical compartments, plus n_{k+1} SST-like
interneurons), N is the output (soma and basal compartment only).

Weight groups (k indexes the *postsynaptic* pyramidal layer; paper sec. 2.1):

========  ===============  ==============  ======================================
group     paper            shape           onto
========  ===============  ==============  ======================================
up{k}     W^PP_{k,k-1}     (n_k, n_{k-1})  basal dendrites of layer k, k = 1..N
b_up{k}   threshold        (n_k,)          basal (learnable bias, ``bias = true``)
down{k}   W^PP_{k,k+1}     (n_k, n_{k+1})  apical dendrites of layer k, k = 1..N-1
IP{k}     W^IP_{k,k}       (n_{k+1}, n_k)  interneuron dendrites in layer k
b_IP{k}   threshold        (n_{k+1},)      interneuron dendrites (``bias = true``)
PI{k}     W^PI_{k,k}       (n_k, n_{k+1})  apical dendrites of layer k
========  ===============  ==============  ======================================

All dynamic variables live in one contiguous vector ``y`` (potentials, filtered
input, weights, plasticity traces) so that the compiled kernels have a single
signature per dtype, a checkpoint is one array and an ensemble is a 2-D array.
:class:`Layout` holds the offsets; :class:`Network` gives named views.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .model.transfer import TRANSFER_CODES
from .steady import is_convex

# The layout table ``lay``: one record per layer k = 0..N (a NumPy record array, read as
# ``lay[k].w_up`` in Python and in the compiled kernels alike); -1 marks an absent entry.
LAYER_FIELDS = (
    ("n", "neurons n_k of layer k"),
    ("u", "y offset of the somatic potentials u_P,k; layer 0: of the filtered input r_0, "
          "which is also the number of neurons, pyramidal and interneurons (they come first in y)"),
    ("u_I", "y offset of the interneuron potentials u_I,k (n_k+1 of them, k < N)"),
    ("w_up", "y offset of W_up,k (n_k x n_k-1, row-major), onto the basal dendrites"),
    ("b_up", "y offset of the basal bias b_up,k (n_k)"),
    ("w_down", "y offset of W_down,k (n_k x n_k+1), onto the apical dendrites"),
    ("w_IP", "y offset of W_IP,k (n_k+1 x n_k), onto the interneuron dendrites"),
    ("b_IP", "y offset of the interneuron bias b_IP,k (n_k+1)"),
    ("w_PI", "y offset of W_PI,k (n_k x n_k+1), interneurons onto the apical dendrites"),
    ("transfer", "transfer-function code of layer k (model.transfer.TRANSFER_CODES)"),
    ("v_B", "z offset of the basal potentials v_B,k"),
    ("v_A", "z offset of the apical potentials v_A,k"),
    ("r", "z offset of the rates r_k (layer 0: the input rates r_0)"),
    ("v_I", "z offset of the interneuron dendrites v_I,k"),
    ("r_I", "z offset of the interneuron rates r_I,k"),
    ("z_input", "layer 0 only: z offset of the input pattern x"),
    ("z_target", "layer 0 only: z offset of the target (NaN when absent)"),
    ("u_breve", "layer 0 only: y offset of the prospective potentials u_breve of Latent "
                "Equilibrium, one per neuron in the order of the somata (u_breve of the soma at "
                "y[i] is y[u_breve + i]); -1 without ([network] latent_equilibrium = false)"),
    ("xi", "y offset of the apical Ornstein-Uhlenbeck noise xi_k of Phaseless Alignment Learning "
           "(n_k, hidden layers k = 1..N-1); -1 without ([plasticity] down_rule = \"pal\")"),
    ("r_hp", "y offset of PAL's high-pass filtered rates r_HP,k (n_k, layers k = 2..N); -1 without"),
    ("r_prev", "y offset of PAL's rates r_k of the previous step (n_k, layers k = 2..N), the "
               "high-pass filter's memory; -1 without"),
)
LAYER = np.dtype([(name, np.int64) for name, _ in LAYER_FIELDS], align=True)

GROUPS = ("up", "b_up", "down", "IP", "b_IP", "PI")
_GROUP_FIELD = {"up": "w_up", "b_up": "b_up", "down": "w_down", "IP": "w_IP", "b_IP": "b_IP", "PI": "w_PI"}

# Variables that can be recorded, and where they live ("y" state or "z" derived).
VARIABLES = ("u_P", "v_B", "v_A", "u_I", "v_I", "r", "r_I", "input", "target", "u_breve", "xi", "r_hp")


@dataclass(frozen=True)
class Layout:
    """Offsets of every variable in the state vector ``y`` and derived vector ``z``."""

    sizes: tuple[int, ...]
    transfers: tuple[str, ...]  # per layer 1..N
    bias: bool
    traces: bool                # tau_w > 0: one low-pass trace per weight
    lay: np.recarray            # (N+1,) records of dtype LAYER, see LAYER_FIELDS; -1 = absent
    n_y: int
    n_z: int
    w_start: int                # first weight in y
    n_w: int                    # number of weights (traces follow if ``traces``)

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    @classmethod
    def build(cls, sizes, transfers, bias=False, traces=True, prospective=False, pal=False) -> Layout:
        """Offsets for layer ``sizes``; ``traces``: a tau_w trace per weight; ``prospective``:
        a block of u_breve (Latent Equilibrium) after everything else; ``pal``: then the blocks
        of Phaseless Alignment Learning (xi of layers 1..N-1, r_HP and r_prev of layers 2..N)."""
        sizes = tuple(int(s) for s in sizes)
        N = len(sizes) - 1
        lay = np.full(N + 1, -1, dtype=LAYER).view(np.recarray)
        lay.n = sizes
        off = 0
        for k in range(1, N + 1):                       # somatic potentials u_P
            lay[k].u = off
            off += sizes[k]
        for k in range(1, N):                           # interneurons u_I (n_{k+1})
            lay[k].u_I = off
            off += sizes[k + 1]
        lay[0].u = off                            # filtered input r_0
        off += sizes[0]
        w_start = off
        for k in range(1, N + 1):
            lay[k].w_up = off
            off += sizes[k] * sizes[k - 1]
            if bias:
                lay[k].b_up = off
                off += sizes[k]
            if k < N:
                lay[k].w_down = off
                off += sizes[k] * sizes[k + 1]
                lay[k].w_IP = off
                off += sizes[k + 1] * sizes[k]
                if bias:
                    lay[k].b_IP = off
                    off += sizes[k + 1]
                lay[k].w_PI = off
                off += sizes[k] * sizes[k + 1]
        n_w = off - w_start
        n_y = off + (n_w if traces else 0)
        if prospective:                                 # u_breve, in the order of the somata
            lay[0].u_breve = n_y
            n_y += int(lay[0].u)
        if pal:                                         # xi, then r_HP and r_prev per layer
            for k in range(1, N):
                lay[k].xi = n_y
                n_y += sizes[k]
            for k in range(2, N + 1):
                lay[k].r_hp = n_y
                n_y += sizes[k]
                lay[k].r_prev = n_y
                n_y += sizes[k]
        for k, name in enumerate(transfers, start=1):
            lay[k].transfer = TRANSFER_CODES[name]
        # z: r_0, then the dendritic potential each neuron's error compares with (v_B of a
        # pyramidal cell, v_I of an interneuron) and then every rate, both in the neuron order
        # of y, then the apical potentials: the fused kernel sweeps each block in one loop.
        n_neurons = lay[0].u
        lay[0].r = 0                                 # r of layer 0 = r_0
        vb0 = sizes[0]
        r0 = vb0 + n_neurons
        for k in range(1, N + 1):
            lay[k].v_B = vb0 + lay[k].u
            lay[k].r = r0 + lay[k].u
            if k < N:
                lay[k].v_I = vb0 + lay[k].u_I
                lay[k].r_I = r0 + lay[k].u_I
        zo = r0 + n_neurons
        for k in range(1, N):
            lay[k].v_A = zo
            zo += sizes[k]
        lay[0].z_input = zo
        zo += sizes[0]
        lay[0].z_target = zo
        zo += sizes[N]
        return cls(sizes, tuple(transfers), bool(bias), bool(traces), lay, n_y, zo, w_start, n_w)

    # -- named slices ---------------------------------------------------------------
    @cached_property
    def _slices(self) -> dict:
        return {}

    def weight_slice(self, group: str, k: int) -> tuple[slice, tuple[int, ...]]:
        """Slice of ``y`` holding weight ``group`` of layer ``k`` and its shape (memoised:
        every pattern's metrics and weight snapshots ask for them)."""
        hit = self._slices.get((group, k))
        if hit is None:
            hit = self._slices[(group, k)] = self._weight_slice(group, k)
        return hit

    def _weight_slice(self, group: str, k: int) -> tuple[slice, tuple[int, ...]]:
        N, n = self.depth, self.sizes
        if group not in _GROUP_FIELD:
            raise KeyError(f"unknown weight group {group!r}; groups are {GROUPS}")
        hidden_only = group in ("down", "IP", "b_IP", "PI")
        if not (1 <= k <= (N - 1 if hidden_only else N)):
            raise KeyError(f"weight group {group!r} has no layer {k} in a network of depth {N}")
        o = int(self.lay[k][_GROUP_FIELD[group]])
        if o < 0:
            raise KeyError(f"weight group {group!r} is absent (bias = false)")
        nxt = n[k + 1] if k < N else 0
        shape = {"up": (n[k], n[k - 1]), "b_up": (n[k],), "down": (n[k], nxt),
                 "IP": (nxt, n[k]), "b_IP": (nxt,), "PI": (n[k], nxt)}[group]
        return slice(o, o + int(np.prod(shape))), shape

    def weight_names(self) -> list[str]:
        """Names ``group{k}`` of every weight array present, in storage order."""
        return list(self._weight_names)

    @cached_property
    def _weight_names(self) -> tuple[str, ...]:
        names = []
        for k in range(1, self.depth + 1):
            for g in GROUPS:
                try:
                    self.weight_slice(g, k)
                except KeyError:
                    continue
                names.append(f"{g}{k}")
        return tuple(names)

    def variable_slice(self, var: str, k: int) -> tuple[str, slice]:
        """Where recordable variable ``var`` of layer ``k`` lives: ("y"|"z", slice)."""
        N, n, lay = self.depth, self.sizes, self.lay
        def sl(o, m):
            return slice(int(o), int(o) + m)
        if var == "input":
            if k != 0:
                raise KeyError("'input' exists for layer 0 only")
            return "z", sl(lay[0].z_input, n[0])
        if var == "target":
            if k != N:
                raise KeyError(f"'target' exists for the output layer {N} only")
            return "z", sl(lay[0].z_target, n[N])
        if var == "r":
            return "z", sl(lay[k].r, n[k])
        if k == 0:
            raise KeyError(f"layer 0 (input) has only 'r' and 'input', not {var!r}")
        if var == "u_P":
            return "y", sl(lay[k].u, n[k])
        if var == "u_breve":
            if lay[0].u_breve < 0:
                raise KeyError("'u_breve' exists with [network] latent_equilibrium = true only")
            return "y", sl(lay[0].u_breve + lay[k].u, n[k])
        if var in ("xi", "r_hp"):
            o = lay[k].xi if var == "xi" else lay[k].r_hp
            if o < 0:
                raise KeyError(f"{var!r} exists with [plasticity] down_rule = \"pal\" only, for layers "
                               + ("1..N-1" if var == "xi" else "2..N"))
            return "y", sl(o, n[k])
        if var == "v_B":
            return "z", sl(lay[k].v_B, n[k])
        if k == N and var in ("v_A", "u_I", "v_I", "r_I"):
            raise KeyError(f"the output layer {N} has no {var!r} (two compartments, no interneurons)")
        if var == "v_A":
            return "z", sl(lay[k].v_A, n[k])
        if var == "u_I":
            return "y", sl(lay[k].u_I, n[k + 1])
        if var == "v_I":
            return "z", sl(lay[k].v_I, n[k + 1])
        if var == "r_I":
            return "z", sl(lay[k].r_I, n[k + 1])
        raise KeyError(f"unknown variable {var!r}; choose from {VARIABLES}")


class Network:
    """A microcircuit: layout, parameters and the state vector ``y`` (owned).

    Weight and potential accessors return *views* into ``y``: writing to them
    changes the network.
    """

    def __init__(self, layout: Layout, dtype=np.float64, y: np.ndarray | None = None):
        self.layout = layout
        self.dtype = np.dtype(dtype)
        if y is None:
            y = np.zeros(layout.n_y, dtype=self.dtype)
        if y.dtype != self.dtype or y.shape != (layout.n_y,) or not y.flags.c_contiguous:
            raise ValueError(f"state vector must be contiguous {self.dtype} of length {layout.n_y}")
        self.y = y

    @property
    def sizes(self):
        return self.layout.sizes

    @property
    def depth(self):
        return self.layout.depth

    def w(self, name: str) -> np.ndarray:
        """View of weight array ``name`` such as ``'up1'``, ``'PI2'``, ``'b_IP1'``."""
        group, k = _split_name(name)
        s, shape = self.layout.weight_slice(group, k)
        return self.y[s].reshape(shape)

    def weights(self) -> dict[str, np.ndarray]:
        return {name: self.w(name) for name in self.layout.weight_names()}

    def trace(self, name: str) -> np.ndarray:
        """View of the tau_w plasticity trace of weight ``name`` (sec. 2.2)."""
        if not self.layout.traces:
            raise KeyError("this network has no plasticity traces (tau_w = 0)")
        group, k = _split_name(name)
        s, shape = self.layout.weight_slice(group, k)
        return self.y[s.start + self.layout.n_w: s.stop + self.layout.n_w].reshape(shape)

    def u_P(self, k: int) -> np.ndarray:
        return self.y[self.layout.variable_slice("u_P", k)[1]]

    def u_I(self, k: int) -> np.ndarray:
        return self.y[self.layout.variable_slice("u_I", k)[1]]

    @property
    def r0(self) -> np.ndarray:
        o = int(self.layout.lay[0].u)
        return self.y[o:o + self.sizes[0]]

    def copy(self) -> Network:
        return Network(self.layout, self.dtype, self.y.copy())


def _split_name(name: str) -> tuple[str, int]:
    i = len(name.rstrip("0123456789"))
    if i == len(name):
        raise KeyError(f"weight name {name!r} needs a layer number, e.g. 'up1'")
    return name[:i], int(name[i:])


# -- initialisation -------------------------------------------------------------------

def sps_ip_factor(g_l, g_B, g_D, g_A_next) -> float:
    """Factor c with W^IP_k = c W^PP_{k+1,k} in the self-predicting state (sec. 2.3).

    c = g_B (g_l + g_D) / (g_D (g_l + g_B + g_A^{(k+1)})), where g_A^{(k+1)} is the
    apical conductance of the next layer: 0 when layer k+1 is the output (pitfall 2).
    """
    return g_B * (g_l + g_D) / (g_D * (g_l + g_B + g_A_next))


def init_random(net: Network, rng: np.random.Generator, distribution="uniform", scale=1.0,
                scales: dict | None = None, top_down="random") -> None:
    """Draw every weight from U(-s, s) or N(0, s^2); per-group scales override ``scale``.

    Biases start at 0. ``top_down = "transpose"`` sets down{k} = up{k+1}^T (B = W^T).
    """
    scales = scales or {}
    for name in net.layout.weight_names():
        group, k = _split_name(name)
        W = net.w(name)
        if group.startswith("b_"):
            W[...] = 0
            continue
        s = scales.get(group, scale)
        if distribution == "uniform":
            W[...] = rng.uniform(-s, s, size=W.shape)
        elif distribution == "normal":
            W[...] = rng.normal(0.0, s, size=W.shape)
        else:
            raise ValueError(f"[init] distribution: unknown {distribution!r} (uniform, normal)")
    if top_down == "transpose":
        for k in range(1, net.depth):
            net.w(f"down{k}")[...] = net.w(f"up{k + 1}").T


def set_self_predicting(net: Network, g_l, g_B, g_A, g_D) -> None:
    """Set PI and IP so the network is exactly in the self-predicting state (sec. 2.3).

    W^PI_k = -W^PP_{k,k+1};  W^IP_k = c_k W^PP_{k+1,k} (and the bias column likewise),
    c_k from :func:`sps_ip_factor` with g_A of layer k+1 (0 for the output layer).
    """
    N = net.depth
    for k in range(1, N):
        net.w(f"PI{k}")[...] = -net.w(f"down{k}")
        c = sps_ip_factor(g_l, g_B, g_D, g_A if k + 1 < N else 0.0)
        net.w(f"IP{k}")[...] = c * net.w(f"up{k + 1}")
        if net.layout.bias:
            net.w(f"b_IP{k}")[...] = c * net.w(f"b_up{k + 1}")


def build_network(cfg, layout, dtype, rng) -> Network:
    """A network initialised as ``[init]`` says (random, optionally self-predicting)."""
    net = Network(layout, dtype)
    i = cfg.init
    scales = {g: getattr(i, f"scale_{g}") for g in ("up", "down", "IP", "PI")}
    scales = {g: s for g, s in scales.items() if s == s}   # drop NaN = "use scale"
    init_random(net, rng, i.distribution, i.scale, scales, i.top_down)
    if i.hidden_bias != 0.0:
        for k in range(1, net.depth):
            net.w(f"b_up{k}")[...] = i.hidden_bias
    if i.self_predicting:
        c = cfg.conductances
        if is_convex(cfg):                     # the paper's printed two-sweep: no leak (steady.py)
            set_self_predicting(net, 0.0, c.g_B, c.g_A, c.g_D)
        else:
            set_self_predicting(net, c.g_l, c.g_B, c.g_A, c.g_D)
    return net
