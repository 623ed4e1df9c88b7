"""The fresh set's arrays: random header-shape lies in npy/npz and .pt, random specs.

gen_arrays replaces one shape literal by a fixed huge one; here the header dict itself
is rebuilt from random parts (shape of random rank and size, dtype descr, fortran
order, format version 1/2/3, padding), members are deflated or stored, and ``.pt``
embeddings declare tensors far larger than their bytes. Reductions are drawn from a
small grammar of names and hostile arguments. Same seed, same cases.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch

from adversarial import gen_arrays
from adversarial.base import CRYSTALS, TEXT_WIDTH, Case, run_args
from adversarial.gen_arrays import _npz

H = 16
DESCRS = ("<f8", "<f4", ">f8", "<f2", "|u1", "<i8", "<c16", "|S8", "<U4", "|V8", "<M8[s]", "|b1")


def _rng(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([seed, *part.encode(), 11])


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _lying_npy(data: bytes, rng: np.random.Generator) -> bytes:
    """``data``'s payload behind a header rebuilt from random parts."""
    header_len = struct.unpack("<H", data[8:10])[0]
    payload = data[10 + header_len :]
    rank = int(rng.integers(0, 4))
    shape = tuple(int(rng.choice([0, 1, 3, TEXT_WIDTH, 2**20, 10**9, 2**40])) for _ in range(rank))
    descr = str(rng.choice(DESCRS))
    fortran = bool(rng.random() < 0.3)
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    version = int(rng.choice([1, 2, 3]))
    pad = 64 - (10 + len(text) + 1) % 64
    head = (text + " " * pad + "\n").encode("latin-1" if version < 3 else "utf-8")
    size = struct.pack("<H", len(head)) if version == 1 else struct.pack("<I", len(head))
    return b"\x93NUMPY" + bytes([version, 0]) + size + head + payload


def _emb_case(name: str, content: bytes, suffix: str = ".npz") -> Case:
    return gen_arrays._emb_case(name, content, suffix, prefix="fresh-")


def _pt_declaring(numel: int, width: int) -> bytes:
    """A ``{id: tensor}`` .pt whose first tensor's view declares ``numel`` elements
    over a storage of a few bytes (the storage record is the only size torch checks)."""
    buf = io.BytesIO()
    torch.save({n: torch.zeros(width) for n in CRYSTALS}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    old = struct.pack("<i", width)  # BININT width in the size tuple of _rebuild_tensor_v2
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(
                    b"K" + bytes([width]) + b"\x85", b"J" + struct.pack("<i", numel) + b"\x85"
                )
                data = data.replace(b"J" + old + b"\x85", b"J" + struct.pack("<i", numel) + b"\x85")
            dst.writestr(info.filename, data)
    return out.getvalue()


def embedding_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "embeddings")
    ids = _npy_bytes(np.array(list(CRYSTALS)))
    emb = np.random.default_rng(seed + 1).normal(size=(len(CRYSTALS), TEXT_WIDTH))
    good = _npy_bytes(emb)
    out: list[Case] = []
    for i in range(12):
        member = str(rng.choice(["ids", "embeddings"]))
        members = {"ids": ids, "embeddings": good}
        members[member] = _lying_npy(members[member], rng)
        compression = zipfile.ZIP_DEFLATED if rng.random() < 0.5 else zipfile.ZIP_STORED
        out.append(_emb_case(f"header-{member}-{i}", _npz(members, compression)))
    for i in range(3):
        numel = int(rng.choice([10**8, 2**31 - 1, 5 * 10**8]))
        out.append(_emb_case(f"pt-declares-{numel}-{i}", _pt_declaring(numel, TEXT_WIDTH), ".pt"))
    buf = io.BytesIO()
    torch.save({n: torch.tensor(emb[i]) for i, n in enumerate(CRYSTALS)}, buf)
    pt = buf.getvalue()
    for i in range(3):
        at = int(rng.integers(0, len(pt)))
        out.append(_emb_case(f"pt-zeroed-{i}@{at}", pt[:at] + b"\0" * 64 + pt[at + 64 :], ".pt"))
    odd = {
        "pt-bare-tensor": torch.zeros(3, TEXT_WIDTH),
        "pt-list": [torch.zeros(TEXT_WIDTH)] * 3,
        "pt-int-keys": {i: torch.zeros(TEXT_WIDTH) for i in range(3)},
        "pt-nested": {n: {"cls": torch.zeros(TEXT_WIDTH)} for n in CRYSTALS},
        "pt-sparse": {n: torch.zeros(TEXT_WIDTH).to_sparse() for n in CRYSTALS},
        "pt-complex": {n: torch.zeros(TEXT_WIDTH, dtype=torch.complex64) for n in CRYSTALS},
        "pt-strings": {n: "vector" for n in CRYSTALS},
    }
    for name, obj in odd.items():
        buf = io.BytesIO()
        torch.save(obj, buf)
        out.append(_emb_case(name, buf.getvalue(), ".pt"))
    return out


def _reduction_case(name: str, spec: str, weights: bytes | None = None) -> Case:
    def build(folder: Path) -> list[str]:
        value = spec
        if weights is not None:
            path = folder / "w.npy"
            path.write_bytes(weights)
            value = f"weighted:{path}"
        return run_args(folder) + ["--reduction", value]

    return Case("reductions", f"fresh-{name}", build)


NAMES = ("dim", "quantile", "topk-mean", "weighted", "mean", "max", "pc1", "DIM", " dim", "dim ")
ARGS = (
    "",
    "0",
    "-0",
    "1",
    "15",
    "16",
    "17",
    "2**4",
    "1e1",
    "0.5",
    "1.0",
    "nan",
    "inf",
    "-inf",
    "1/2",
    "0x3",
    "٣",
    "3 ",
    " 3",
    "3:4",
    ":",
    "None",
    "9" * 400,
    "-1e-300",
    "true",
)


def reduction_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "reductions")
    out = []
    for i in range(16):
        name = str(rng.choice(NAMES))
        sep = str(rng.choice([":", ":", ":", "=", "::", ""]))
        spec = f"{name}{sep}{rng.choice(ARGS)}"
        out.append(_reduction_case(f"spec-{i}", spec))
    good = _npy_bytes(np.random.default_rng(seed).uniform(0.1, 1.0, H))
    for i in range(8):
        out.append(_reduction_case(f"weights-header-{i}", "", _lying_npy(good, rng)))
    return out


def generate(seed: int) -> list[Case]:
    return embedding_cases(seed) + reduction_cases(seed)
