"""The two-thread kernel for one small network (engine.duo) against the serial fused kernel."""

import sys

import numba
import numpy as np
import pytest

from dendrosim import config, simulation
from dendrosim.engine import duo
from dendrosim.engine.params import I_THREADS
from dendrosim.network import L_N, L_UI, L_UP_U, Layout
from dendrosim.simulation import MemorySink, Simulation

from .helpers import make_cfg, random_state

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2 or sys.platform == "win32",
                                reason="the two-thread kernel needs two numba threads and POSIX")

CASES = [
    # Fig. 2's student with the tau_w trace, soft rectifier, input filter, a learning lag
    dict(sizes=(30, 50, 10), tau_w=30.0, lag=0.35, block=7, mode="sample"),
    # three layers, biases, logistic, no trace, conductance nudging, no input filter, mean recording
    dict(sizes=(12, 30, 25, 8), tau_w=0.0, bias=True, transfer="logistic", nudging="conductance",
         tau_in=0.0, block=5, mode="mean"),
    # blocks of one and two steps: the noise the kernel draws ahead must not outrun the block
    dict(sizes=(20, 30, 10), tau_w=10.0, block=1, mode="sample"),
    dict(sizes=(20, 30, 10), tau_w=10.0, block=2, mode="mean"),
    # float32 end to end
    dict(sizes=(30, 50, 10), tau_w=30.0, block=9, mode="sample", simulation={"dtype": "float32"}),
]


def _cfg(case, sigma=0.2, n_patterns=4, duration=3.0):
    case = dict(case)
    block, mode, lag = case.pop("block"), case.pop("mode"), case.pop("lag", 0.0)
    d = make_cfg(case.pop("sizes"), eta=0.01, eta_down=0.0, **case).to_dict()
    d["noise"] = {"sigma": sigma}
    d["plasticity"]["lag"] = lag
    d["task"] = {"kind": "self_predicting", "n_patterns": n_patterns, "duration": duration, "input_high": 5.0}
    d["record"] = {"every": 3, "mode": mode, "block": block,
                   "variables": ["u_P", "v_B", "v_A", "u_I", "v_I", "r", "r_I"]}
    return config.from_dict(d)


def _run(cfg, net, two_threads, monkeypatch):
    """Final state, records, times, metrics, noise state and the number of two-thread blocks."""
    calls = []
    real = simulation.run_block_duo

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(simulation, "run_block_duo", counted)
    sim = Simulation(cfg, net=net.copy())
    sim.ip[I_THREADS] = 2 if two_threads else 1
    sim._choice.use_duo = lambda: True           # every block on two threads, not only the faster ones
    sink = MemorySink()
    try:
        sim.run(sink)
    except simulation.Diverged:
        pass
    return (sim.net.y.copy(), np.concatenate(sink.rows), np.concatenate(sink.t), sink.metric("apical_norm"),
            sim.state.rng.copy(), sim.state.step, sink.final_status), len(calls)


@pytest.mark.parametrize("case", CASES)
def test_two_threads_give_the_serial_kernels_bits(case, monkeypatch):
    cfg = _cfg(case)
    net = random_state(cfg, np.random.default_rng(1), dtype=cfg.simulation.dtype, scale=0.5)
    serial, n_serial = _run(cfg, net, False, monkeypatch)
    two, n_two = _run(cfg, net, True, monkeypatch)
    assert n_serial == 0 and n_two > 0
    for a, b in zip(serial, two):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(serial[0], net.y)          # the network did move


def test_a_diverging_run_stops_where_the_serial_one_stops(monkeypatch):
    """Same step, same status, same (non-finite) state and noise stream."""
    case = dict(CASES[0], lag=0.0)
    cfg = _cfg(case, sigma=0.5, n_patterns=3, duration=20.0)
    d = cfg.to_dict()
    d["plasticity"]["eta_PI"] = [400.0]
    d["plasticity"]["eta_IP"] = [400.0]
    cfg = config.from_dict(d)
    net = random_state(cfg, np.random.default_rng(2), scale=2.0)
    serial, _ = _run(cfg, net, False, monkeypatch)
    two, n_two = _run(cfg, net, True, monkeypatch)
    assert serial[6] == "diverged" and n_two > 0
    assert serial[5] == two[5] < 3 * 200
    for a, b in zip(serial[:5], two[:5]):
        np.testing.assert_array_equal(a, b)


def test_threads_that_cannot_run_side_by_side_fall_back_to_serial(monkeypatch):
    """With one numba thread the two halves would run one after the other: the handshake
    gives up, nothing has changed, and the serial kernel runs the block instead."""
    cfg = _cfg(CASES[0])
    net = random_state(cfg, np.random.default_rng(3), scale=0.5)
    serial, _ = _run(cfg, net, False, monkeypatch)
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        two, n_two = _run(cfg, net, True, monkeypatch)
    finally:
        numba.set_num_threads(old)
    assert n_two == 1                              # tried once, then not again
    for a, b in zip(serial, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sizes", [(30, 50, 10), (12, 30, 25, 8), (784, 100, 10)])
def test_split_keeps_interneurons_with_their_partners_and_balances_the_work(sizes):
    """The split is the most even cut (largest side smallest) among those that keep every
    interneuron on the thread of its pyramidal partner (searched here by brute force)."""
    from dendrosim.engine.params import pack
    cfg = make_cfg(sizes, eta=0.01, eta_down=0.0, noise={"sigma": 0.0})
    layout = Layout.build(cfg.network.sizes, cfg.network.transfer, False, traces=True)
    fp, lp, ip = pack(cfg, layout, np.float64)
    ip[I_THREADS] = 2
    lay, n = layout.lay, int(layout.lay[0, L_UP_U])
    pairs = [(lay[k + 1, L_UP_U] + i, lay[k, L_UI] + i) for k in range(1, layout.depth) for i in range(lay[k + 1, L_N])]
    cost = duo._neuron_costs(layout, lp, True)
    legal = [a for a in range(1, n) if all((p < a) == (q < a) for p, q in pairs)]
    worst = {a: max(cost[:a].sum(), cost[a:].sum()) for a in legal}
    a = duo.split(layout, lp, ip, fp)
    assert a in legal and worst[a] == min(worst.values())
    if layout.depth == 2:
        assert worst[a] < 0.55 * cost.sum()
    own = duo.owner_map(layout, a)
    assert 0.25 < own[:layout.n_y].mean() < 0.75         # the weights are shared out too


def test_kernel_choice_follows_the_faster_kernel_and_probes_less_when_confirmed():
    c = duo.KernelChoice()
    speed = {True: 1.0, False: 2.0}                   # seconds per block of 1000 steps

    def blocks(n):
        used = []
        for _ in range(n):
            d = c.use_duo()
            used.append(d)
            c.record(d, 1000, speed[d])
        return used

    first = blocks(4)
    assert first == [True, True, False, False]        # each kernel's first block untimed, then one timing
    used = blocks(200)
    assert sum(not u for u in used) <= 4              # probes of the slower kernel thin out
    speed[True] = 20.0                                # the machine got busy: two threads wait on each other
    used = blocks(1100)
    assert not any(used[-50:]) and sum(used) <= 12
    speed[True] = 0.5                                 # and quiet again: found within one probe interval
    used = blocks(duo.KernelChoice.MAX_INTERVAL + 2)
    assert all(used[-1:])


def test_one_slow_block_does_not_flip_the_kernel_choice():
    """A host hiccup only slows a block down: every 10th block of the faster kernel taking 3x
    longer must not send the run to the slower kernel until the next probe."""
    c = duo.KernelChoice()
    used = []
    for b in range(600):
        d = c.use_duo()
        used.append(d)
        hiccup = d and b % 10 == 9
        c.record(d, 1000, (3.0 if hiccup else 1.0) if d else 1.2)
    assert sum(not u for u in used[4:]) <= 8           # the probes only (16, 32, ... blocks apart)


def test_a_new_run_of_the_same_network_resumes_the_kernel_choice_of_the_last():
    """A short run after one that found the two threads slower starts on the serial kernel
    (a fresh choice would spend its first two blocks on the two threads) and keeps its probe
    schedule, unless the two threads were last timed over STALE_S ago: then it times them
    again within MIN_INTERVAL blocks. Another network times both kernels afresh."""
    key, other = ("net", 1), ("net", 2)
    c = duo.KernelChoice.resume(key)

    def blocks(choice, n, duo_s=20.0):               # a busy host: two threads 20x slower
        used = []
        for _ in range(n):
            d = choice.use_duo()
            used.append(d)
            choice.record(d, 1000, duo_s if d else 1.0)
        return used

    blocks(c, 200)
    assert not c.use_duo() and c.blocks_to_probe > duo.KernelChoice.MIN_INTERVAL
    again = duo.KernelChoice.resume(key)
    assert again.recent == c.recent and again.recent is not c.recent
    assert not any(blocks(again, duo.KernelChoice.MIN_INTERVAL + 1))     # the schedule goes on
    again.checked -= 2 * duo.KernelChoice.STALE_S                        # ... unless it is stale
    later = duo.KernelChoice.resume(key)
    assert not later.use_duo() and any(blocks(later, duo.KernelChoice.MIN_INTERVAL + 1, duo_s=0.5))
    assert later.use_duo()                            # the host got quiet: back on two threads
    assert duo.KernelChoice.resume(other).use_duo()   # warm-up block of a network not seen before


def test_simulations_of_one_network_resume_each_others_kernel_choice_and_others_do_not():
    base = {"network": {"sizes": [30, 20, 10]}, "noise": {"sigma": 0.1}, "init": {"seed": 7}}
    a = Simulation(config.from_dict(base))
    a._choice.recent[False].append(1.0)              # as if a had timed a serial block
    same = Simulation(config.from_dict({**base, "init": {"seed": 8}}))       # another seed, same network
    assert same._choice.recent[False] == [1.0]
    for other in ({**base, "network": {"sizes": [30, 50, 10]}},
                  {**base, "plasticity": {"eta_up": [0.0, 1e-3]}}):   # a frozen layer runs at another speed
        assert Simulation(config.from_dict(other))._choice.recent[False] == []


def test_an_uncompiled_two_thread_kernel_waits_for_a_run_long_enough_to_repay_its_compile():
    c = duo.KernelChoice(allowed=False)
    assert not c.use_duo()
    c.record(False, 1000, 60.0)                       # the first serial block: compiling, not timed
    c.allow_if_worth_it(10**9)                        # no serial timing yet: no estimate
    assert not c.allowed
    c.record(False, 1000, 1e-3)                       # 1 us per serial step
    c.allow_if_worth_it(int(0.5 * duo.COMPILE_PAYBACK_S * 1e6))
    assert not c.use_duo()
    c.allow_if_worth_it(int(2 * duo.COMPILE_PAYBACK_S * 1e6))
    assert c.use_duo()                                # then its warm-up block
