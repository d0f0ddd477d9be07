"""``dendrosim keys [SECTION | task.KIND]``: every configuration key with its default and
meaning, read from the code that validates it (config.py dataclasses, each task kind's
KEYS, the learners' KEYS), so the list cannot drift from what is accepted.

Units: ms for times, 1/ms for conductances, dimensionless potentials and rates.
"""

from __future__ import annotations

import dataclasses
import sys

from . import config as config_mod


def _fmt_default(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, float) and v != v:
        return "nan"
    return str(v)


def sections() -> dict[str, list[tuple[str, str, str]]]:
    """{section: [(key, default, meaning)]}: the dataclass sections, ``task.KIND`` for every
    registered task kind, and ``learner``."""
    from .learners.options import KEYS as LEARNER_KEYS
    from .tasks import TASKS
    out = {}
    for f in dataclasses.fields(config_mod.Config):
        if not (isinstance(f.type, type) and dataclasses.is_dataclass(f.type)) and not (
                isinstance(f.type, str) and f.type.endswith("Cfg")):
            continue
        cls = getattr(config_mod, f.type) if isinstance(f.type, str) else f.type
        rows = []
        for g in dataclasses.fields(cls):
            default = g.default if g.default is not dataclasses.MISSING else g.default_factory()
            rows.append((g.name, _fmt_default(default), g.metadata.get("doc", "")))
        out[f.name] = rows
    for kind, cls in sorted(TASKS.items()):
        out[f"task.{kind}"] = [(k, _fmt_default(d[0]), d[-1] if len(d) > 1 and isinstance(d[-1], str) else "")
                               for k, d in cls.KEYS.items()]
    out["learner"] = [(k, _fmt_default(d[0]), d[2]) for k, d in LEARNER_KEYS.items()]
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
