"""Cost of recording to HDF5: the Fig. 2 network with and without a recorder.

``python scripts/bench_io.py`` prints the numbers; :func:`bench_recording`
returns them. The recorder must cost at most 15 % of the simulation speed.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from dendrosim.config import from_dict
from dendrosim.io import HDF5Sink
from dendrosim.simulation import Simulation


class _NullSink:
    """Accepts everything, keeps nothing (the 'no recording' baseline)."""

    def __getattr__(self, name):
        return lambda *a, **k: None


def fig2_config(n_patterns=100, record=True, every=10, compression="none"):
    """Sacramento et al. Fig. 2 student network with all plasticity on."""
    return from_dict({
        "network": {"sizes": [30, 50, 10], "transfer": "soft_relu"},
        "plasticity": {"eta_up": [0.0011875, 0.0005], "eta_IP": 0.0011875, "eta_PI": 0.0059375,
                       "eta_down": 0.0005},
        "noise": {"sigma": 0.3},
        "init": {"scale": 0.1},
        "task": {"kind": "self_predicting", "n_patterns": n_patterns, "duration": 100.0},
        "record": {"every": every, "variables": ["u_P", "v_A", "u_I"] if record else [],
                   "weights_every": 0, "compression": compression},
    })


def _time_run(cfg, sink_factory):
    sim = Simulation(cfg)
    sink = sink_factory()
    t0 = time.perf_counter()
    sim.run(sink)
    sink.close()
    return sim.total_steps / (time.perf_counter() - t0), sim


def bench_recording(n_patterns: int = 500, repeats: int = 3, every: int = 10,
                    compression: str = "none") -> dict:
    """Steps/s without and with HDF5 recording of u_P, v_A, u_I (all layers) every ``every`` steps.

    The two cases alternate ``repeats`` times and the best of each is kept (the
    machine is noisy). Returns ``{"steps_per_s_none", "steps_per_s_hdf5", "overhead",
    "mb_per_sim_s", ...}`` where overhead = 1 - with/without and mb_per_sim_s is the
    file size per simulated second.
    """
    Simulation(fig2_config(1, record=True, every=every)).run(_NullSink())     # compile / load caches
    base = rec = 0.0
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.h5"
        cfg = fig2_config(n_patterns, record=True, every=every, compression=compression)
        for _ in range(repeats):
            base = max(base, _time_run(fig2_config(n_patterns, record=False), _NullSink)[0])
            r, sim = _time_run(cfg, lambda: HDF5Sink(path, compression=compression))
            rec = max(rec, r)
        size = path.stat().st_size
    sim_seconds = sim.total_steps * sim.dt / 1000.0
    return {"network": [30, 50, 10], "steps": sim.total_steps, "every": every,
            "columns": int(sim.rec_src.size), "compression": compression,
            "steps_per_s_none": base, "steps_per_s_hdf5": rec, "overhead": 1.0 - rec / base,
            "file_mb": size / 1e6, "mb_per_sim_s": size / 1e6 / sim_seconds}


if __name__ == "__main__":
    print(json.dumps(bench_recording(), indent=2))
