"""Every generator of the suite, by class; other suites append theirs to GENERATORS.

Two sets build the same classes: "standard" (the gen_* modules) and "fresh" (the
fresh_* modules, built by different mutation strategies). ``ALPHA_TUI_ADVERSARIAL_SET``
picks one for a run; the summary line names the set and the seed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from adversarial import (
    fresh_arrays,
    fresh_checkpoints,
    fresh_data,
    fresh_paths,
    gen_arrays,
    gen_checkpoints,
    gen_data,
    gen_paths,
)
from adversarial.base import Case

SET_VARIABLE = "ALPHA_TUI_ADVERSARIAL_SET"

GENERATORS: list[Callable[[int], list[Case]]] = [
    gen_checkpoints.generate,
    gen_data.generate,
    gen_arrays.generate,
    gen_paths.generate,
]

FRESH_GENERATORS: list[Callable[[int], list[Case]]] = [
    fresh_checkpoints.generate,
    fresh_data.generate,
    fresh_arrays.generate,
    fresh_paths.generate,
]

SETS = {"standard": GENERATORS, "fresh": FRESH_GENERATORS}


def selected_set(environ: dict[str, str] | None = None) -> str:
    name = (os.environ if environ is None else environ).get(SET_VARIABLE, "standard")
    if name not in SETS:
        raise ValueError(f"{SET_VARIABLE}={name!r}: use one of {', '.join(SETS)}")
    return name


def generate(seed: int, set_name: str | None = None) -> list[Case]:
    generators = SETS[set_name or selected_set()]
    return [case for gen in generators for case in gen(seed)]


# Known without building the cases, so collecting the tests stays cheap.
CLASSES: tuple[str, ...] = ("checkpoints", "csv", "cif", "embeddings", "reductions", "paths")


def classes() -> list[str]:
    return list(CLASSES)
