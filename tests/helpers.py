"""Shared builders for tests: small random networks in arbitrary states."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from dendrosim import config
from dendrosim.engine.params import pack
from dendrosim.engine.rhs import rhs
from dendrosim.network import Layout, Network


def make_cfg(sizes, transfer="soft_relu", bias=False, tau_w=30.0, tau_in=3.0, nudging="current",
             eta=1e-2, eta_down=None, E=(1.0, -1.0), **extra):
    """A config with every plastic group learning at rate ``eta`` (down too unless given)."""
    N = len(sizes) - 1
    d = {
        "network": {"sizes": list(sizes), "transfer": transfer, "bias": bias, "tau_in": tau_in},
        "conductances": {"nudging": nudging, "E_exc": E[0], "E_inh": E[1]},
        "plasticity": {"eta_up": [eta * (k + 1) for k in range(N)], "tau_w": tau_w,
                       "eta_IP": [1.3 * eta] * (N - 1), "eta_PI": [0.7 * eta] * (N - 1),
                       "eta_down": [eta if eta_down is None else eta_down] * (N - 1)},
    }
    for sec, vals in extra.items():
        d.setdefault(sec, {}).update(vals)
    return config.from_dict(d)


def random_state(cfg, rng, dtype=np.float64, scale=1.0):
    """A network whose every entry of y (potentials, weights, traces) is random."""
    lay = Layout.build(cfg.network.sizes, cfg.network.transfer, cfg.network.bias,
                       traces=cfg.plasticity.tau_w > 0, prospective=cfg.network.latent_equilibrium,
                       pal=cfg.plasticity.down_rule == "pal")
    net = Network(lay, dtype)
    net.y[:] = rng.uniform(-scale, scale, size=lay.n_y)
    for k in range(1, lay.depth + 1):
        net.u_P(k)[:] = rng.uniform(-1, 5, size=lay.sizes[k])   # around soft_relu's theta = 3
    return net


def engine_rhs(cfg, net, x, target, plastic=True):
    """(dy, z) from the compiled right-hand side."""
    fp, lp, ip = pack(cfg, net.layout, net.dtype)
    dy = np.zeros_like(net.y)
    z = np.zeros(net.layout.n_z, dtype=net.dtype)
    has = target is not None
    tgt = np.zeros(net.sizes[-1], dtype=net.dtype) if target is None else target.astype(net.dtype)
    err = np.zeros(max(net.sizes), dtype=net.dtype)
    rhs(net.y, z, dy, x.astype(net.dtype), tgt, has, plastic, net.layout.lay, lp, fp, ip, err,
        np.ones(1, dtype=net.dtype))
    return dy, z


def default_sigint(then=None):
    """A ``preexec_fn`` for CLI children: Ctrl-C handled as a user's shell would, then ``then()``
    if given. A test run started in the background of a non-interactive shell inherits SIGINT
    ignored, and the CLI would then never see the interrupts these tests send."""
    def child():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if then is not None:
            then()
    return child


def cli(*args, **kw):
    """The CLI of this checkout (``python -m dendrosim.cli ARGS``) in a subprocess with text pipes;
    Ctrl-C at its default there (:func:`default_sigint`, after a caller's own ``preexec_fn``)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, "-m", "dendrosim.cli", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint(kw.pop("preexec_fn", None)), **kw)
