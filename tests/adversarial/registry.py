"""Every generator of the suite, by class; other suites append theirs to GENERATORS."""

from __future__ import annotations

from collections.abc import Callable

from adversarial import gen_arrays, gen_checkpoints, gen_data, gen_paths
from adversarial.base import Case

GENERATORS: list[Callable[[int], list[Case]]] = [
    gen_checkpoints.generate,
    gen_data.generate,
    gen_arrays.generate,
    gen_paths.generate,
]


def generate(seed: int) -> list[Case]:
    return [case for gen in GENERATORS for case in gen(seed)]


# Known without building the cases, so collecting the tests stays cheap.
CLASSES: tuple[str, ...] = ("checkpoints", "csv", "cif", "embeddings", "reductions", "paths")


def classes() -> list[str]:
    return list(CLASSES)
