"""Figures from a :class:`dendrosim.io.Run` (``dendrosim plot``).

Every ``plot_*`` function takes a Run (or a path) and optional axes and returns the
matplotlib :class:`~matplotlib.figure.Figure`. Without axes a new figure is made on
the Agg canvas: no pyplot, so nothing changes the backend of an interactive session.

=========  ================================================================
what       figure
=========  ================================================================
apical     apical potentials v_A of chosen neurons, pattern ends marked
soma       somatic potentials u_P of output neurons against the target
mismatch   apical norm and interneuron mismatch per hidden layer (log axis)
loss       output loss per pattern
weights    Frobenius norms of the weights, and the forward/feedback angle
           between up{k+1} and down{k}^T (degrees)
=========  ================================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .config import ConfigError
from .io import Run, load
from .io.layout import text_attr

WHATS = ("apical", "soma", "mismatch", "loss", "weights", "alignment")
MAX_BOUNDARIES = 400          # more pattern ends than this are not drawn


def _run(run) -> Run:
    return run if isinstance(run, Run) else load(run)


def _axes(ax, n=1, size=(7.0, 3.6)):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=(size[0], size[1] * (1 if n == 1 else 0.8 * n)), layout="constrained")
    FigureCanvasAgg(fig)
    axs = fig.subplots(n, 1, squeeze=True)
    return fig, axs


def parse_neurons(spec) -> np.ndarray | None:
    """``"0:5"`` -> 0..4, ``"0,3,7"`` -> [0, 3, 7], ``"all"``/None -> None (every recorded one)."""
    if spec is None:
        return None
    if isinstance(spec, slice):
        return np.arange(spec.start or 0, spec.stop, spec.step or 1)
    if not isinstance(spec, str):
        return np.atleast_1d(np.asarray(spec, dtype=np.int64))
    s = spec.strip()
    if s in ("", "all", ":"):
        return None
    try:
        if ":" in s:
            parts = [int(p) if p else None for p in s.split(":")]
            lo, hi = parts[0] or 0, parts[1]
            step = parts[2] if len(parts) > 2 and parts[2] else 1
            if hi is None:
                return None if lo == 0 and step == 1 else np.arange(lo, 1 << 30, step)
            return np.arange(lo, hi, step)
        return np.array([int(p) for p in s.split(",") if p.strip()], dtype=np.int64)
    except ValueError:
        raise ConfigError("plot.neurons", f"cannot read {spec!r}; use e.g. 0:5 or 0,3,7") from None


def parse_window(spec) -> tuple[float, float] | None:
    """``"0:200"`` -> (0, 200), ``"9800:"`` -> (9800, inf), ``":200"`` -> (-inf, 200), None -> None
    (times in the file's unit, ms for the engine)."""
    if spec is None or isinstance(spec, tuple):
        return spec
    try:
        lo, hi = str(spec).split(":")
        window = (float(lo) if lo.strip() else -np.inf, float(hi) if hi.strip() else np.inf)
    except ValueError:
        raise ConfigError("plot.time", f"cannot read {spec!r}; use T0:T1 in ms, e.g. 0:200 or 9800:") from None
    if not window[0] < window[1]:
        raise ConfigError("plot.time", f"the window {spec!r} is empty (T0 must be below T1)")
    return window


def _time_label(run: Run, ms_label: str = "time (ms)") -> str:
    """x-axis label of a file's t: ``ms_label`` for the engine, "trials presented" for a learner."""
    return ms_label if run.time_unit == "ms" else f"{run.time_unit}s presented"


def _need(run: Run, name: str, group="traces"):
    if name not in getattr(run, group):
        hint = ("add the variable to [record] variables" if group == "traces"
                else "this file has no such per-pattern metric")
        if group == "traces" and run.is_learner:
            hint = "a discrete learner's file has no traces; plot loss or weights"
        raise ConfigError("record.variables" if group == "traces" else "plot.what",
                          f"{group}/{name} is not in {run.path}; {hint}")


def _select(run: Run, name: str, neurons, window=None):
    """(t, values, ids) of the recorded neurons of trace ``name`` that are in ``neurons``,
    inside ``window`` (t0, t1) if given."""
    _need(run, name)
    ids = run.neurons(name)
    want = parse_neurons(neurons)
    cols = np.arange(ids.size) if want is None else np.flatnonzero(np.isin(ids, want))
    if cols.size == 0:
        raise ConfigError("plot.neurons", f"none of {neurons!r} was recorded in {name} "
                          f"(recorded: {ids.tolist()})")
    t, v = run.trace(name, window=window)
    if window is not None and t.size == 0:
        raise ConfigError("plot.time", f"no samples of {name} between {window[0]:g} and {window[1]:g} ms "
                          f"(the file covers 0 to {run.duration:g} ms)")
    return t, v[:, cols], ids[cols]


def _mark_patterns(ax, run: Run, t):
    ends = run.pattern_ends()
    if t.size:
        ends = ends[(ends > t[0]) & (ends < t[-1])]
    if 0 < ends.size <= MAX_BOUNDARIES:
        ax.vlines(ends, 0, 1, transform=ax.get_xaxis_transform(), colors="0.6",
                  linewidth=0.6, linestyles=":", label="_pattern ends", zorder=0)


def _default_hidden(run: Run, layer):
    if layer is None:
        if run.depth < 2:
            raise ConfigError("plot.layer", "this network has no hidden layer (no apical dendrites)")
        return 1
    if not 1 <= layer < max(run.depth, 1):
        raise ConfigError("plot.layer", f"layer {layer} is not a hidden layer (1..{run.depth - 1})")
    return layer


def plot_apical(run, ax=None, layer=None, neurons="0:5", patterns=True, window=None) -> Figure:
    """Apical potentials v_A of ``neurons`` in hidden ``layer`` (default 1) over time.

    Dotted vertical lines mark the pattern ends (``/metrics/t``). ``window``: (t0, t1) in ms
    or "T0:T1", only that part of the run.
    """
    run = _run(run)
    layer = _default_hidden(run, layer)
    fig, ax = _axes(ax)
    t, v, ids = _select(run, f"layer{layer}/v_A", neurons, parse_window(window))
    for j, i in enumerate(ids):
        ax.plot(t, v[:, j], lw=0.9, label=f"neuron {i}", gid=f"v_A/{i}")
    if patterns:
        _mark_patterns(ax, run, t)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("apical potential $v_A$ (dimensionless)")
    ax.set_title(f"layer {layer}: apical potentials")
    if len(ids) <= 10:
        ax.legend(fontsize="small", ncol=min(len(ids), 5))
    return fig


def plot_soma(run, ax=None, layer=None, neurons="0:5", patterns=True, window=None) -> Figure:
    """Somatic potentials u_P of output neurons (solid) and their targets (dashed); ``window``
    as in :func:`plot_apical`."""
    run = _run(run)
    N = run.depth
    layer = N if layer is None else layer
    window = parse_window(window)
    fig, ax = _axes(ax)
    t, v, ids = _select(run, f"layer{layer}/u_P", neurons, window)
    tgt_name = f"layer{layer}/target"
    target = None
    if layer == N and tgt_name in run.traces:
        tt, tv = run.trace(tgt_name, window=window)
        target = (tt, tv, run.neurons(tgt_name))
    for j, i in enumerate(ids):
        (line,) = ax.plot(t, v[:, j], lw=0.9, label=f"neuron {i}", gid=f"u_P/{i}")
        if target is not None and i in target[2]:
            c = int(np.flatnonzero(target[2] == i)[0])
            ax.plot(target[0], target[1][:, c], ls="--", lw=0.9, color=line.get_color(),
                    label="_target", gid=f"target/{i}")
    if patterns:
        _mark_patterns(ax, run, t)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("somatic potential $u_P$ (dimensionless)")
    ax.set_title(f"layer {layer}: somatic potentials" + (" (dashed: target)" if target else ""))
    if len(ids) <= 10:
        ax.legend(fontsize="small", ncol=min(len(ids), 5))
    return fig


def _positive(y):
    y = np.asarray(y, dtype=float)
    return np.where(y > 0, y, np.nan)


def plot_mismatch(run, ax=None) -> Figure:
    """Apical norm |v_A| and interneuron mismatch |u_P(k+1) - u_I(k)|^2 per pattern, log axis."""
    run = _run(run)
    fig, ax = _axes(ax)
    drawn = False
    for key, style, label in (("apical_norm", "-", "apical norm $\\|v_A\\|$"),
                              ("interneuron_mismatch", "--", "interneuron mismatch $\\|u_P - u_I\\|^2$")):
        if key not in run.metrics:
            continue
        t, m = run.metric(key)
        m = m.reshape(m.shape[0], -1)
        for k in range(m.shape[1]):
            ax.plot(t, _positive(m[:, k]), style, lw=1.0, label=f"{label}, layer {k + 1}", gid=f"{key}/{k + 1}")
            drawn = True
    if not drawn:
        raise ConfigError("plot.what", f"{run.path} has no apical_norm or interneuron_mismatch metrics")
    ax.set_yscale("log")
    ax.set_xlabel("time (ms, end of pattern)")
    ax.set_ylabel("dimensionless")
    ax.set_title("self-prediction error per pattern")
    ax.legend(fontsize="small")
    return fig


def plot_loss(run, ax=None) -> Figure:
    """Output loss |u_P - target|^2 per pattern (NaN without a target: not drawn)."""
    run = _run(run)
    _need(run, "loss", "metrics")
    fig, ax = _axes(ax)
    t, loss = run.metric("loss")
    loss = np.asarray(loss, dtype=float)
    ax.plot(t, loss, ".-", lw=1.0, ms=3, label="loss", gid="loss")
    if np.any(loss > 0) and np.all((loss > 0) | np.isnan(loss)):
        ax.set_yscale("log")
    if not np.any(np.isfinite(loss)):
        ax.text(0.5, 0.5, "no target in this run (loss is NaN)", transform=ax.transAxes,
                ha="center", va="center")
    units = run.time_unit
    ax.set_xlabel(_time_label(run, "time (ms, end of pattern)"))
    ax.set_ylabel("loss $\\|u_P - u^{tgt}\\|^2$ (dimensionless)")
    ax.set_title("output loss per pattern" if units == "ms" else "output loss per update (mean over its batch)")
    return fig


def plot_alignment(run, ax=None) -> Figure:
    """Angle between the top-down weights W_down,k and W_up,k+1^T of every hidden layer at the
    end of each pattern (``/metrics/top_down_angle``, degrees): 90 for unrelated matrices, 0
    for top-down weights that are the transposed forward weights (backprop's)."""
    run = _run(run)
    _need(run, "top_down_angle", "metrics")
    fig, ax = _axes(ax)
    t, a = run.metric("top_down_angle")
    a = np.asarray(a, dtype=float).reshape(len(t), -1)
    for k in range(a.shape[1]):
        ax.plot(t, a[:, k], lw=1.0, label=f"layer {k + 1}", gid=f"top_down_angle/{k + 1}")
    ax.axhline(90.0, color="k", lw=0.5, ls=":")
    ax.set_ylim(0.0, max(95.0, float(np.nanmax(a, initial=0.0)) + 5.0))
    ax.set_xlabel("time (ms, end of pattern)")
    ax.set_ylabel("angle (degrees)")
    ax.set_title("alignment of top-down and transposed forward weights")
    ax.legend(fontsize="small")
    return fig


def alignment_angle(up_next: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Angle (degrees) between up{k+1} and down{k}^T: arccos of the Frobenius cosine.

    Works on single matrices or on stacks (time, post, pre) of snapshots.
    """
    a = np.asarray(up_next, dtype=float)
    b = np.swapaxes(np.asarray(down, dtype=float), -1, -2)
    num = np.sum(a * b, axis=(-2, -1))
    den = np.sqrt(np.sum(a * a, axis=(-2, -1)) * np.sum(b * b, axis=(-2, -1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.clip(num / den, -1.0, 1.0)
    return np.degrees(np.arccos(c))


def plot_weights(run, axes=None) -> Figure:
    """Frobenius norm of every weight array per snapshot, and the up/down alignment angles."""
    run = _run(run)
    names = [n for n in run.weights if not n.startswith("b_")]
    if run.is_learner and text_attr(run.file.attrs["learner"]) != "dendritic":
        names = [n for n in names if not n.startswith(("IP", "PI"))]    # no interneurons in these rules
    xlabel = _time_label(run)
    if not names:
        raise ConfigError("plot.what", f"{run.path} has no weight snapshots")
    pairs = [k for k in range(1, run.depth) if f"up{k + 1}" in names and f"down{k}" in names]
    if axes is None:
        fig, axs = _axes(None, 2 if pairs else 1)
        axs = np.atleast_1d(axs)
    else:
        axs = np.atleast_1d(axes)
        fig = axs[0].figure
    ax = axs[0]
    n_snap = run.file["weights/t"].shape[0]
    style = ".-" if n_snap > 2 else "o:"        # two snapshots joined by a line would look like a trend
    where = "[learner]" if run.is_learner else "[record]"
    note = "" if n_snap > 2 else f" (first and last snapshot only: {where} weights_every for more)"
    for n in names:
        t, W = run.weight(n)
        ax.plot(t, np.sqrt(np.sum(W.reshape(W.shape[0], -1) ** 2, axis=1)), style, ms=3, lw=1.0,
                label=n, gid=f"norm/{n}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Frobenius norm (dimensionless)")
    ax.set_title("weight norms" + note, fontsize="medium" if note else None)
    ax.legend(fontsize="small", ncol=min(len(names), 4))
    if pairs and len(axs) > 1:
        ax = axs[1]
        for k in pairs:
            t, up = run.weight(f"up{k + 1}")
            t2, down = run.weight(f"down{k}")
            n = min(len(t), len(t2))
            ax.plot(t[:n], alignment_angle(up[:n], down[:n]), style, ms=3, lw=1.0,
                    label=f"up{k + 1} vs down{k}$^T$", gid=f"angle/{k}")
        ax.axhline(90.0, color="0.6", lw=0.5)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("angle (degrees)")
        ax.set_title("forward/feedback alignment")
        ax.legend(fontsize="small")
    return fig


def plot_file(path, what: str | None = None, out=None, layer=None, neurons="0:5", window=None) -> Path:
    """Draw figure ``what`` of output file ``path`` to a PNG; returns its path.

    ``what`` None: "apical" for an engine file, "loss" (the learning curve) for a discrete
    learner's file, which has no traces. Default output: ``<file stem>_<what>.png`` next to
    the file. ``window`` ("T0:T1", ms): the part of the run the apical and soma figures show.
    """
    if what is not None and what not in WHATS:
        raise ConfigError("plot.what", f"must be one of {list(WHATS)}, got {what!r}")
    path = Path(path)
    with load(path) as run:
        what = what or ("loss" if run.is_learner else "apical")
        out = Path(out) if out else path.with_name(f"{path.stem}_{what}.png")
        if what == "apical":
            fig = plot_apical(run, layer=layer, neurons=neurons, window=window)
        elif what == "soma":
            fig = plot_soma(run, layer=layer, neurons=neurons, window=window)
        elif what == "mismatch":
            fig = plot_mismatch(run)
        elif what == "loss":
            fig = plot_loss(run)
        elif what == "alignment":
            fig = plot_alignment(run)
        else:
            fig = plot_weights(run)
        unit = "ms" if run.time_unit == "ms" else f"{run.time_unit}s"
        fig.suptitle(f"{path.name} ({run.status}, {run.duration:.0f} {unit})", fontsize="small")
        fig.savefig(out, dpi=110)
    return out
