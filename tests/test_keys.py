"""``dendrosim keys`` lists exactly the keys the config accepts, each with a meaning."""

import tomllib


from dendrosim import config
from dendrosim.keys import render, sections


def test_every_listed_key_is_accepted_with_its_listed_default():
    """A TOML file written from the listing (every dataclass section with every key at its
    listed default) loads, and loading gives back those defaults (a scalar spread over the
    layers): the listing and the validator agree on names and defaults."""
    secs = sections()
    lines = []
    for s, rows in secs.items():
        if "." in s or s == "learner":
            continue
        lines.append(f"[{s}]")
        lines += [f"{k} = {d}" for k, d, _ in rows if d != "nan"]
    cfg = config.from_dict(tomllib.loads("\n".join(lines)))
    for s, rows in secs.items():
        if "." in s or s == "learner":
            continue
        for k, d, _ in rows:
            if d != "nan":
                got = getattr(getattr(cfg, s), k)
                want = tomllib.loads(f"v = {d}")["v"]
                if isinstance(got, (list, tuple)) and not isinstance(want, list):
                    got, want = list(got), [want] * len(got)         # a scalar applies to every layer
                assert list(got) == want if isinstance(got, tuple) else got == want, (s, k)


def test_every_key_has_a_meaning_and_every_task_kind_is_listed():
    """Every key of every section has a description, and the task kinds listed are exactly
    the registered ones."""
    from dendrosim.tasks import TASKS
    secs = sections()
    for s, rows in secs.items():
        for k, _, doc in rows:
            assert doc.strip(), f"{s}.{k} has no description"
    assert {s.split(".", 1)[1] for s in secs if s.startswith("task.")} == set(TASKS)
    assert [k for k, _, _ in secs["task.self_predicting"]] == list(TASKS["self_predicting"].KEYS)


def test_cli_keys_prints_one_section_and_rejects_an_unknown_one(capsys):
    from dendrosim.cli import main
    assert main(["keys", "noise"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[noise]") and "convention" in out and "[network]" not in out
    assert main(["keys", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert render("task").count("[task] kind =") == len([s for s in sections() if s.startswith("task.")])
