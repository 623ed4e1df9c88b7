"""Every generator of the suite, by class; other suites append theirs to GENERATORS."""

from __future__ import annotations

from collections.abc import Callable

from adversarial import gen_checkpoints
from adversarial.base import Case

GENERATORS: list[Callable[[int], list[Case]]] = [gen_checkpoints.generate]


def generate(seed: int) -> list[Case]:
    return [case for gen in GENERATORS for case in gen(seed)]


def classes(seed: int = 0) -> list[str]:
    return sorted({case.klass for case in generate(seed)})
