"""Shared pieces of the adversarial suite: the case record and a valid base set.

A case is a name, a class and a ``build(dir) -> argv`` that writes its bad input
into a fresh folder and returns the CLI arguments to run on it. Generators are plain
functions ``(seed) -> list[Case]`` so other suites (the explorer's) can add their own
and reuse the base files. Everything is derived from the seed: a second seed builds a
different set of the same classes.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

MARKER = "EXECUTED"  # a payload that runs creates this file in the case folder
CRYSTALS = ("NaCl", "Cu", "CsCl")
TEXT_WIDTH = 32


@dataclass(frozen=True)
class Case:
    klass: str
    name: str
    build: Callable[[Path], list[str]]


def small_config():
    from model_factory import small_config as factory

    return factory(text_input_features=TEXT_WIDTH)


def base_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    from model_factory import random_state_dict

    return random_state_dict(small_config(), seed=seed)


def write_dataset(folder: Path, rows: list[list[str]] | None = None) -> Path:
    """``folder/cif/*.cif`` for the three base crystals and a description.csv."""
    import crystal_factory as cf

    builders = {"NaCl": cf.rocksalt, "Cu": cf.fcc_primitive, "CsCl": cf.cesium_chloride}
    for name, builder in builders.items():
        cf.write_cif(builder(), folder / "cif" / f"{name}.cif")
    if rows is None:
        rows = [["id", "formula", "target", "text"]]
        rows += [[n, n, f"{i + 0.5}", f"{n} is a crystal."] for i, n in enumerate(CRYSTALS)]
    with open(folder / "description.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return folder


def write_embeddings(path: Path, ids=CRYSTALS, width: int = TEXT_WIDTH, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, ids=np.array(list(ids)), embeddings=rng.normal(size=(len(ids), width)))
    return path


def write_checkpoint(path: Path, obj=None, **save) -> Path:
    if obj is None:
        obj = {"config": small_config().to_dict(), "model": base_state_dict()}
    torch.save(obj, path, **save)
    return path


def run_args(
    folder: Path,
    checkpoint: Path | None = None,
    *,
    data: Path | None = None,
    embeddings: Path | None = None,
    command: str = "report",
) -> list[str]:
    """``report --json CKPT --data ... --text-embeddings ...`` with base files by default."""
    if checkpoint is None:
        checkpoint = write_checkpoint(folder / "model.pt")
    if data is None:
        data = write_dataset(folder / "data")
    if embeddings is None:
        embeddings = write_embeddings(folder / "emb.npz")
    argv = [command, str(checkpoint), "--data", str(data), "--text-embeddings", str(embeddings)]
    argv += ["--cache-dir", str(folder / "cache"), "--backend", "native"]
    return argv + (["--json"] if command == "report" else [])


def rng_for(seed: int, klass: str) -> random.Random:
    return random.Random(f"{seed}:{klass}")
