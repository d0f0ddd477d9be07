"""``dendrosim keys [SECTION | task.KIND]``: every configuration key with its default and
meaning, read from the code that validates it (config.py dataclasses, each task kind's
KEYS, the learners' KEYS), so the list cannot drift from what is accepted.

Units: ms for times, 1/ms for conductances, dimensionless potentials and rates.
"""

from __future__ import annotations

import dataclasses
import sys

from . import config as config_mod


def sections() -> dict[str, list[tuple[str, str, str]]]:
    """{section: [(key, default as TOML, meaning)]}: the dataclass sections of
    :data:`dendrosim.config.SECTIONS`, ``task.KIND`` for every registered task kind, and ``learner``."""
    from .learners.options import KEYS as LEARNER_KEYS
    from .tasks import TASKS
    fmt = config_mod._toml_value            # the same writer as the TOML stored in every output file
    out = {}
    for name, cls in config_mod.SECTIONS.items():
        out[name] = [(g.name, fmt(g.default if g.default is not dataclasses.MISSING else g.default_factory()),
                      g.metadata.get("doc", "")) for g in dataclasses.fields(cls)]
    for kind, cls in sorted(TASKS.items()):
        out[f"task.{kind}"] = [(k, fmt(d[0]), d[-1] if len(d) > 1 and isinstance(d[-1], str) else "")
                               for k, d in cls.KEYS.items()]
    out["learner"] = [(k, fmt(d[0]), d[2]) for k, d in LEARNER_KEYS.items()]
    return out


def render(which: str | None = None) -> str:
    """The table of one section (or of all, ``which`` None); ``task`` lists every task kind."""
    secs = sections()
    names = list(secs) if which is None else [s for s in secs if s == which or s.startswith(which + ".")]
    if not names:
        raise KeyError(which)
    lines = []
    for s in names:
        head = f"[{s.split('.')[0]}]" + (f' kind = "{s.split(".", 1)[1]}"' if s.startswith("task.") else "")
        lines.append(head)
        for key, default, doc in secs[s]:
            lines.append(f"  {key:<18} {default:<16} {doc}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def keys_main(which: str | None) -> int:
    try:
        text = render(which)
    except KeyError:
        print(f"dendrosim keys: no section {which!r}; sections are {', '.join(sections())} (or 'task')",
              file=sys.stderr)
        return 2
    print(text, end="")
    return 0
