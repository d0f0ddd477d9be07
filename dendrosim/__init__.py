"""dendrosim: the dendritic cortical microcircuit of Sacramento et al. (2018) in continuous time.

>>> import dendrosim
>>> run = dendrosim.load("fig_s1.h5")          # a finished or running output file
>>> t, v_A = run.trace("layer1/v_A")           # ms, (time, neurons)
"""

__version__ = "0.1.0"

from . import _jitcache

_jitcache.configure()   # compiled kernels go to a per-user cache folder, never into the package
_jitcache.refresh()     # numba caches of callers must not outlive edits of their callees


def load(path):
    """Open an output file as a :class:`dendrosim.io.Run` (lazy; works while it is written)."""
    from .io import load as _load
    return _load(path)


def __getattr__(name):          # dendrosim.Run without importing h5py at package import
    if name == "Run":
        from .io import Run
        return Run
    raise AttributeError(name)
