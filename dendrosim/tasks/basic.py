"""Tasks of Sacramento et al. (2018) Figs. S1 and 1."""

from __future__ import annotations

from .base import Segment, Task, register


@register
class SelfPredicting(Task):
    """Random input patterns, no target: the microcircuit learns the self-predicting
    state (paper sec. 3.2, Fig. S1). Each pattern is drawn U(input_low, input_high)."""

    kind = "self_predicting"
    KEYS = {
        "n_patterns": (100, "number of patterns"),
        "duration": (100.0, "presentation time per pattern, ms"),
        "input_low": (0.0, "lower bound of input rates"),
        "input_high": (1.0, "upper bound of input rates"),
    }

    def __init__(self, options, sizes, dt, rng):
        super().__init__(options, sizes, dt, rng)
        self.n = self.option("n_patterns", int, positive=True, allow_zero=False)
        self.steps = self.steps_of("duration")
        self.patterns = rng.uniform(self.option("input_low"), self.option("input_high"),
                                    size=(self.n, sizes[0]))

    def __len__(self):
        return self.n

    def segment(self, i):
        return Segment(self.patterns[i], None, self.steps, i)


@register
class SinglePattern(Task):
    """One input pattern and one output voltage target (paper Fig. 1).

    The pattern is shown ``n_repeats`` times for ``duration`` ms each; the target is
    on from repeat ``target_from`` (earlier repeats: no teacher, the network runs
    free). Input and target are drawn uniformly unless given as lists.
    """

    kind = "single_pattern"
    KEYS = {
        "n_repeats": (20, "number of presentations"),
        "duration": (100.0, "presentation time, ms"),
        "target_from": (0, "first presentation with the target on"),
        "input": ([], "input rates (empty: drawn U(input_low, input_high))"),
        "input_low": (0.0, "lower bound of the drawn input rates"),
        "input_high": (1.0, "upper bound of the drawn input rates"),
        "target": ([], "output voltage target (empty: drawn U(target_low, target_high))"),
        "target_low": (0.0, "lower bound of the drawn target voltages"),
        "target_high": (1.0, "upper bound of the drawn target voltages"),
    }

    def __init__(self, options, sizes, dt, rng):
        super().__init__(options, sizes, dt, rng)
        self.n = self.option("n_repeats", int, positive=True, allow_zero=False)
        self.steps = self.steps_of("duration")
        self.target_from = self.option("target_from", int, positive=True)
        self.x = self.vector("input", sizes[0], "input_low", "input_high")
        self.target = self.vector("target", sizes[-1], "target_low", "target_high")

    def __len__(self):
        return self.n

    def segment(self, i):
        return Segment(self.x, self.target if i >= self.target_from else None, self.steps, 0)
