"""The two-thread kernel for one small network (engine.duo) against the serial fused kernel.

NUMBA_NUM_THREADS defaults to the number of cores, and it cannot change once numba is
imported. Where it is below two (a 1-vCPU CI runner), the tests that run the two-thread
kernel are not skipped: they run in a child pytest with NUMBA_NUM_THREADS=2 (numba accepts more
threads than cores), and each one here passes only if the same test passed there.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numba
import numpy as np
import pytest

from dendrosim import config, simulation
from dendrosim.engine import duo
from dendrosim.engine.duo import STATUS_RERUN
from dendrosim.engine.loop import STATUS_DIVERGED, STATUS_OK
from dendrosim.engine.params import I_THREADS
from dendrosim.network import L_N, L_UI, L_UP_U, Layout
from dendrosim.simulation import MemorySink, Simulation

from .helpers import make_cfg, random_state

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the two-thread kernel needs POSIX")

CHILD_ENV = "DENDROSIM_TEST_DUO_CHILD"


@pytest.fixture(scope="module")
def child_outcomes(request, tmp_path_factory):
    """None when this process has two numba threads. Otherwise {test name: (outcome, message)}
    of a child pytest, run once with NUMBA_NUM_THREADS=2, of every collected test of this module
    that uses the ``child_run`` fixture."""
    if numba.config.NUMBA_NUM_THREADS >= 2:
        return None
    assert not os.environ.get(CHILD_ENV), "NUMBA_NUM_THREADS=2 did not reach the child pytest"
    ids = [it.nodeid for it in request.session.items
           if it.module is request.module and "child_run" in it.fixturenames]
    xml = tmp_path_factory.mktemp("duo_child") / "junit.xml"
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", CHILD_ENV: "1"}
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *ids],
                           cwd=request.config.rootpath, env=env, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as e:      # a two-thread run that never returns: a deadlock
        pytest.fail(f"the child pytest with NUMBA_NUM_THREADS=2 did not finish in {e.timeout} s:\n"
                    f"{(e.stdout or b'')[-3000:]!r}")
    assert xml.exists(), f"the child pytest wrote no report:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    out = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        bad = [e for e in case if e.tag in ("failure", "error", "skipped")]
        out[case.get("name")] = ((bad[0].tag, (bad[0].get("message") or "") + (bad[0].text or ""))
                                 if bad else ("passed", ""))
    return out


@pytest.fixture
def child_run(request, child_outcomes):
    """None: run the test body in this process (it has two numba threads). Otherwise this
    test's (outcome, message) in the child pytest with NUMBA_NUM_THREADS=2."""
    if child_outcomes is None:
        return None
    return child_outcomes.get(request.node.name, ("not run", ""))


def ran_in_child(child_run) -> bool:
    """True if the test body ran in the child pytest, and passed there (else fail here)."""
    if child_run is None:
        return False
    outcome, message = child_run
    assert outcome == "passed", f"with NUMBA_NUM_THREADS=2: {outcome}\n{message[-3000:]}"
    return True


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


def _run(cfg, net, use_duo, monkeypatch, diverges=False, force=True):
    """(final state, records, times, metrics, noise state, step, final status) and the status of
    every call of the two-thread kernel (STATUS_RERUN: the threads did not run side by side and
    the serial kernel ran the block). ``diverges``: the run must raise Diverged (else it must not).
    ``force``: every block on two threads, not only where the kernel choice picks them."""
    statuses = []

    def counted(*args):
        out = duo.run_block_duo(*args)
        statuses.append(int(out[1]))
        return out

    monkeypatch.setattr(simulation, "run_block_duo", counted)
    sim = Simulation(cfg, net=net.copy())
    sim.ip[I_THREADS] = 2 if use_duo else 1
    if force:
        sim._choice.use_duo = lambda: True       # every block on two threads, not only the faster ones
    sink = MemorySink()
    if diverges:
        with pytest.raises(simulation.Diverged):
            sim.run(sink)
    else:
        sim.run(sink)
    return (sim.net.y.copy(), np.concatenate(sink.rows), np.concatenate(sink.t), sink.metric("apical_norm"),
            sim.state.rng.copy(), sim.state.step, sink.final_status), statuses


@pytest.mark.parametrize("case", CASES)
def test_two_threads_give_the_serial_kernels_bits(case, monkeypatch, child_run):
    """A completed run on two threads ends bit for bit where the serial kernel's does: state,
    records, times, metrics, noise stream and step."""
    if ran_in_child(child_run):
        return
    cfg = _cfg(case)
    net = random_state(cfg, np.random.default_rng(1), dtype=cfg.simulation.dtype, scale=0.5)
    serial, calls_serial = _run(cfg, net, False, monkeypatch)
    two, calls_two = _run(cfg, net, True, monkeypatch)
    assert calls_serial == [] and set(calls_two) == {STATUS_OK}   # every block ran on two threads side by side
    assert serial[6] == two[6] == "completed"
    for a, b in zip(serial, two):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(serial[0], net.y)          # the network did move


def test_a_diverging_run_stops_where_the_serial_one_stops(monkeypatch, child_run):
    """Same step, same status, same (non-finite) state and noise stream."""
    if ran_in_child(child_run):
        return
    case = dict(CASES[0], lag=0.0)
    cfg = _cfg(case, sigma=0.5, n_patterns=3, duration=20.0)
    d = cfg.to_dict()
    d["plasticity"]["eta_PI"] = [400.0]
    d["plasticity"]["eta_IP"] = [400.0]
    cfg = config.from_dict(d)
    net = random_state(cfg, np.random.default_rng(2), scale=2.0)
    serial, _ = _run(cfg, net, False, monkeypatch, diverges=True)
    two, calls_two = _run(cfg, net, True, monkeypatch, diverges=True)
    assert serial[6] == two[6] == "diverged"
    assert calls_two[-1] == STATUS_DIVERGED and STATUS_RERUN not in calls_two   # found on two threads
    assert serial[5] == two[5] < 3 * 200
    for a, b in zip(serial[:5], two[:5]):
        np.testing.assert_array_equal(a, b)


def test_threads_that_cannot_run_side_by_side_fall_back_to_serial(monkeypatch, child_run):
    """With one numba thread the two halves would run one after the other: the handshake
    gives up, nothing has changed, and the serial kernel runs the block instead."""
    if ran_in_child(child_run):
        return
    cfg = _cfg(CASES[0])
    net = random_state(cfg, np.random.default_rng(3), scale=0.5)
    serial, _ = _run(cfg, net, False, monkeypatch)
    assert serial[6] == "completed"
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        two, calls_two = _run(cfg, net, True, monkeypatch, force=False)
    finally:
        numba.set_num_threads(old)
    # tried at the start and again MIN_INTERVAL blocks later (this run has ~20 blocks), never each block
    assert calls_two == [STATUS_RERUN] * len(calls_two) and 1 <= len(calls_two) <= 2
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
    assert sum(not u for u in used) <= 2 * 4          # probes (two blocks each) of the slower kernel thin out
    speed[True] = 20.0                                # the machine got busy: two threads wait on each other
    used = blocks(1100)
    assert not any(used[-50:]) and sum(used) <= 2 * 12
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
    assert sum(not u for u in used[4:]) <= 2 * 5       # the probes only (16, 32, ... blocks apart, two blocks each)


def test_a_failed_handshake_runs_serially_and_tries_the_two_threads_again_later():
    """A block whose two threads did not start side by side goes serial, and the run tries
    them again after MIN_INTERVAL blocks (twice as many after each further failure), instead
    of staying serial for the rest of a possibly hours-long run; once they run, and are
    faster, the run is back on two threads."""
    c = duo.KernelChoice()
    tries = []

    def run(n, handshake_ok):
        for b in range(n):
            if c.use_duo():
                tries.append(b)
                if not handshake_ok:
                    c.handshake_failed()
                    continue
                c.record(True, 1000, 1.0)
            else:
                c.record(False, 1000, 1.5)

    run(200, handshake_ok=False)
    gaps = np.diff(tries)
    assert len(tries) >= 4 and gaps[0] >= duo.KernelChoice.MIN_INTERVAL
    assert all(g2 >= 1.8 * g1 for g1, g2 in zip(gaps, gaps[1:]))       # backing off (~2x)
    c.interval = c.blocks_to_probe = duo.KernelChoice.MIN_INTERVAL       # (do not wait for the back-off)
    tries.clear()
    run(40, handshake_ok=True)
    assert c.use_duo() and c.best                  # the host is quiet again: two threads


def test_the_first_block_of_a_probe_is_not_timed():
    """After a spell on the serial kernel the idle second core makes the first two-thread block
    slow (measured ~2x): the probe's first block is a warm-up, its second is timed, and a fast
    second block brings the run back to two threads. Timing the first alone would keep the
    run serial for good, each probe confirming the last."""
    c = duo.KernelChoice()
    duo_s = [1.0]

    def run(n):
        used = []
        for _ in range(n):
            d = c.use_duo()
            used.append(d)
            c.record(d, 1000, (duo_s[0] if d else 1.2))
        return used

    run(4)
    duo_s[0] = 3.0                      # busy spell: serial is faster
    used = run(40)
    assert not any(used[-5:])
    probes = []
    for _ in range(3000):               # quiet again, but each probe's first block is slow
        d = c.use_duo()
        first_of_probe = d and not c.probe_warm and not c.best
        probes.append(d)
        c.record(d, 1000, 2.4 if first_of_probe else 1.0 if d else 1.2)
    assert all(probes[-100:])           # back on two threads (timing first blocks: never)


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
