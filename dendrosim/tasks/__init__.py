"""Tasks: what is presented to the network (see :mod:`.base` for the interface)."""
from . import basic, reward, teacher  # noqa: F401  (registers the tasks)
from . import mnist  # noqa: F401  (registers task kind "mnist")
from . import bars, yinyang  # noqa: F401  (register the classification tasks "bars", "yin_yang")
from .base import TASKS, Segment, Task, make_task, register

__all__ = ["TASKS", "Segment", "Task", "make_task", "register"]
