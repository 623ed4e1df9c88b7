"""Bad arrays: embeddings files and weighted:FILE vectors, reduction names."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from adversarial.base import CRYSTALS, TEXT_WIDTH, Case, rng_for, run_args
from adversarial.gen_checkpoints import _legacy_big_storage

H = 16  # hidden width of the base checkpoint (gate width)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _forge_shape(data: bytes, old: tuple, new: tuple) -> bytes:
    return data.replace(repr(old).encode(), repr(new).encode(), 1)


def _npz(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, payload in members.items():
            archive.writestr(name + ".npy", payload)
    return buf.getvalue()


def _emb_case(name: str, content: bytes, suffix: str = ".npz", prefix: str = "") -> Case:
    def build(folder: Path) -> list[str]:
        path = folder / f"emb{suffix}"
        path.write_bytes(content)
        return run_args(folder, embeddings=path)

    return Case("embeddings", prefix + name, build)


def embedding_cases(seed: int) -> list[Case]:
    rng = rng_for(seed, "embeddings")
    ids = _npy_bytes(np.array(list(CRYSTALS)))
    emb = np.random.default_rng(seed).normal(size=(len(CRYSTALS), TEXT_WIDTH))
    good = _npy_bytes(emb)
    shape = emb.shape
    cases = {
        "valid": _npz({"ids": ids, "embeddings": good}),
        "huge-declared-rows": _npz(
            {"ids": ids, "embeddings": _forge_shape(good, shape, (10**12, TEXT_WIDTH))}
        ),
        "huge-declared-width": _npz(
            {"ids": ids, "embeddings": _forge_shape(good, shape, (3, 10**11))}
        ),
        "huge-declared-ids": _npz({"ids": _forge_shape(ids, (3,), (10**12,)), "embeddings": good}),
        "wrong-width": _npz({"ids": ids, "embeddings": _npy_bytes(emb[:, :8])}),
        "nan": _npz({"ids": ids, "embeddings": _npy_bytes(emb * np.nan)}),
        "inf": _npz({"ids": ids, "embeddings": _npy_bytes(emb * np.inf)}),
        "3d": _npz({"ids": ids, "embeddings": _npy_bytes(emb[:, :, None])}),
        "1d": _npz({"ids": ids, "embeddings": _npy_bytes(emb[0])}),
        "int": _npz({"ids": ids, "embeddings": _npy_bytes(emb.astype(np.int64))}),
        "complex": _npz({"ids": ids, "embeddings": _npy_bytes(emb.astype(np.complex64))}),
        "object": _npz({"ids": ids, "embeddings": _object_npy()}),
        "rows-ids-mismatch": _npz({"ids": ids, "embeddings": _npy_bytes(emb[:2])}),
        "missing-ids": _npz({"embeddings": good}),
        "missing-crystal": _npz(
            {"ids": _npy_bytes(np.array(["NaCl"])), "embeddings": _npy_bytes(emb[:1])}
        ),
        "empty-npz": _npz({}),
        "truncated-member": _npz({"ids": ids, "embeddings": good[:100]}),
        "not-zip": b"not a zip file at all",
        "empty-file": b"",
        "mapping-npz": _npz({n: _npy_bytes(emb[i]) for i, n in enumerate(CRYSTALS)}),
    }
    data = cases["valid"]
    for i in range(6):
        raw = bytearray(data)
        raw[rng.randrange(len(raw))] = rng.randrange(256)
        cases[f"flipped-{i}"] = bytes(raw)
    out = [_emb_case(n, c) for n, c in cases.items()]
    buf = io.BytesIO()
    torch.save({n: torch.tensor(emb[i]) for i, n in enumerate(CRYSTALS)}, buf)
    out.append(_emb_case("pt-valid", buf.getvalue(), ".pt"))
    out.append(_emb_case("pt-garbage", b"\x80\x02garbage", ".pt"))
    out.append(_emb_case("pt-truncated", buf.getvalue()[:300], ".pt"))
    out.append(_emb_case("wrong-suffix", data, ".csv"))
    # a legacy-format .pt of under 1 KiB whose storage record declares 2 GB
    legacy = io.BytesIO()
    zeros = {n: torch.zeros(TEXT_WIDTH) for n in CRYSTALS}
    torch.save(zeros, legacy, _use_new_zipfile_serialization=False)
    out.append(_emb_case("pt-legacy-declares-2GB", _legacy_big_storage(legacy.getvalue()), ".pt"))
    return out


def _object_npy() -> bytes:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (3,), }"
    header += b" " * (118 - len(header)) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x80\x02N."


def _reduction_case(
    name: str, reduction: str, weights: bytes | None = None, suffix: str = ".npy"
) -> Case:
    def build(folder: Path) -> list[str]:
        spec = reduction
        if weights is not None:
            path = folder / f"w{suffix}"
            path.write_bytes(weights)
            spec = f"weighted:{path}"
        return run_args(folder) + ["--reduction", spec]

    return Case("reductions", name, build)


def reduction_cases(seed: int) -> list[Case]:
    w = np.random.default_rng(seed).uniform(0.1, 1.0, H)
    good = _npy_bytes(w)
    names = {
        "dim-huge": "dim:99999",
        "dim-negative": "dim:-1",
        "dim-h": f"dim:{H}",
        "dim-ok": "dim:3",
        "dim-float": "dim:1.5",
        "dim-empty": "dim:",
        "quantile-2": "quantile:2",
        "quantile-nan": "quantile:nan",
        "quantile-neg": "quantile:-0.1",
        "quantile-ok": "quantile:0.9",
        "topk-0": "topk-mean:0",
        "topk-neg": "topk-mean:-3",
        "topk-huge": "topk-mean:99999",
        "unknown": "banana",
        "empty": "",
        "weighted-missing": "weighted:/nonexistent/w.npy",
        "weighted-empty": "weighted:",
        "pc1": "pc1",
        "long-name": "x" * 10000,
    }
    out = [_reduction_case(n, r) for n, r in names.items()]
    weights = {
        "valid": (good, ".npy"),
        "huge-declared": (_forge_shape(good, (H,), (10**12,)), ".npy"),
        "huge-2d": (_forge_shape(good, (H,), (10**6, 10**6)), ".npy"),
        "wrong-length": (_npy_bytes(w[:5]), ".npy"),
        "nan": (_npy_bytes(w * np.nan), ".npy"),
        "2d": (_npy_bytes(np.ones((4, 4))), ".npy"),
        "object": (_object_npy(), ".npy"),
        "text": (b"\n".join(str(v).encode() for v in w), ".txt"),
        "text-garbage": (b"abc def\n", ".txt"),
        "csv": (",".join(map(str, w)).encode(), ".csv"),
        "empty": (b"", ".npy"),
        "zeros": (_npy_bytes(np.zeros(H)), ".npy"),
        "negative": (_npy_bytes(-w), ".npy"),
    }
    out += [_reduction_case(f"weights-{n}", "", d, s) for n, (d, s) in weights.items()]
    return out


def generate(seed: int) -> list[Case]:
    return embedding_cases(seed) + reduction_cases(seed)
