"""dendrosim: the dendritic cortical microcircuit of Sacramento et al. (2018) in continuous time."""
__version__ = "0.1.0"
