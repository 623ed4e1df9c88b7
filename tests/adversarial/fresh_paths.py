"""The fresh set's paths: random components and special files in place of every input.

gen_paths names each bad path by hand; here a seeded Generator composes names from
random parts (multibyte characters around the 255-byte limit, leading dashes, control
characters, trailing slashes) and puts special files (FIFOs that block a naive open,
symlink loops, dangling links, folders where files belong) at a random input of the
run: the checkpoint, the data folder and its parts, the embeddings, the cache, the
weights file and the export's destination. Same seed, same cases.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adversarial.base import Case, run_args

PIECES = ("a", "é", "中", "💎", " ", "-", ".", "\n", "\t", "\x7f", "\\", "'", '"', "$(x)", "*")
SLOTS = ("CKPT", "--data", "--text-embeddings", "--cache-dir", "weights", "--out", "csv", "cif")


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 13, 17])


def _name(rng: np.random.Generator) -> str:
    """A file name of random pieces, its UTF-8 length near or past 255 bytes."""
    target = int(rng.choice([8, 120, 250, 254, 255, 256, 400]))
    out = "-" if rng.random() < 0.2 else ""
    while len(out.encode()) < target:
        out += str(rng.choice(PIECES))
    return out.replace("/", "_")


def _special(kind: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        os.symlink(path.name, path)  # a link to itself
    elif kind == "dangling":
        os.symlink(path.parent / "nowhere" / "x", path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "to-dev-zero":
        os.symlink("/dev/zero", path)
    elif kind == "to-proc":
        os.symlink("/proc/self/mem", path)
    return path


def _build(slot: str, kind: str, name: str, trailing: bool):
    def build(folder: Path) -> list[str]:
        argv = run_args(folder, command="export") + ["--out", str(folder / "alpha.npz")]
        # the driver lets a successful run write under cache/ only
        target = folder / ("cache" if slot == "--cache-dir" else "x") / name
        if kind == "name":  # only the odd name, at a path that may not exist
            value = target
        elif slot == "csv":
            csv = folder / "data" / "description.csv"
            csv.unlink()
            _special(kind, csv)
            return argv
        elif slot == "cif":
            cif = folder / "data" / "cif" / "NaCl.cif"
            cif.unlink()
            _special(kind, cif)
            return argv
        else:
            value = _special(kind, target)
        text = str(value) + ("/" if trailing else "")
        if slot == "CKPT":
            argv[1] = text
        elif slot == "weights":
            argv += ["--reduction", f"weighted:{text}"]
        else:
            argv[argv.index(slot) + 1] = text
        return argv

    return build


def generate(seed: int) -> list[Case]:
    rng = _rng(seed)
    kinds = ("name", "fifo", "loop", "dangling", "folder", "to-dev-zero", "to-proc")
    out: list[Case] = []
    for slot in SLOTS:  # every slot, four of its kinds (a different four per seed)
        usable = [k for k in kinds if not (slot in ("csv", "cif") and k == "name")]
        for kind in rng.choice(usable, size=4, replace=False):
            kind = str(kind)
            name = _name(rng) if kind == "name" else f"{_name(rng)[:40]}.pt"
            trailing = bool(rng.random() < 0.15)
            label = f"fresh-{slot.strip('-')}-{kind}{'-slash' if trailing else ''}"
            out.append(Case("paths", label, _build(slot, kind, name, trailing)))
    return out
