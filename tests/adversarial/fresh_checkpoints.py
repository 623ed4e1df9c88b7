"""The fresh set's checkpoints: the same classes as gen_checkpoints, built another way.

gen_checkpoints cuts and flips bytes of whole files and lists its lies by hand; here a
numpy Generator picks mutation *operators* (insert, delete, duplicate or zero a span,
splice two checkpoints) applied to the pickle inside the zip as well as to the file,
draws config lies for several fields at once from a pool of hostile values, and edits
state dicts by random operations on random keys. Same seed, same cases.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from adversarial import gen_checkpoints
from adversarial.base import Case, base_state_dict, small_config, write_checkpoint

KLASS = "checkpoints"

HOSTILE_VALUES: tuple[object, ...] = (
    -1,
    0,
    2**63,
    -(2**31),
    1e300,
    -1e-300,
    float("nan"),
    float("-inf"),
    "",
    " ",
    "1e999",
    "0x10",
    "nan",
    "-0",
    "1,2,,3",
    "２",  # a full-width digit: int() accepts it
    b"bytes",
    (),
    [None],
    {"nested": {"deeper": [1, 2]}},
    True,
    False,
    None,
    3 + 4j,
)

FIELDS = (
    "alignn_layers",
    "gcn_layers",
    "atom_input_features",
    "edge_input_features",
    "triplet_input_features",
    "embedding_features",
    "hidden_features",
    "output_features",
    "graph_dropout",
    "use_cross_modal_attention",
    "cross_modal_hidden_dim",
    "cross_modal_num_heads",
    "use_middle_fusion",
    "middle_fusion_layers",
    "middle_fusion_hidden_dim",
    "middle_fusion_num_heads",
    "middle_fusion_dropout",
    "use_fine_grained_attention",
    "link",
    "classification",
    "text_input_features",
)


def _rng(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([seed, *part.encode()])


def _case(name: str, make) -> Case:
    return gen_checkpoints._case(name, make, prefix="fresh-")


def _bytes_case(name: str, data: bytes) -> Case:
    return gen_checkpoints._bytes_case(name, data, prefix="fresh-")


def _saved(obj=None, **save) -> bytes:
    if obj is None:
        obj = {"config": small_config().to_dict(), "model": base_state_dict()}
    buf = io.BytesIO()
    torch.save(obj, buf, **save)
    return buf.getvalue()


# --- byte-level mutation operators ---------------------------------------------------------


def _mutate(data: bytes, rng: np.random.Generator, other: bytes) -> tuple[str, bytes]:
    """One operator on a random span: which one, and the mutated bytes."""
    n = len(data)
    at = int(rng.integers(0, n))
    span = int(rng.integers(1, max(2, min(4096, n - at))))
    op = str(rng.choice(["insert", "delete", "duplicate", "zero", "splice", "reverse"]))
    if op == "insert":
        junk = rng.integers(0, 256, span, dtype=np.uint8).tobytes()
        return op, data[:at] + junk + data[at:]
    if op == "delete":
        return op, data[:at] + data[at + span :]
    if op == "duplicate":
        return op, data[: at + span] + data[at : at + span] + data[at + span :]
    if op == "zero":
        return op, data[:at] + b"\0" * span + data[at + span :]
    if op == "reverse":
        return op, data[:at] + data[at : at + span][::-1] + data[at + span :]
    cut = int(rng.integers(0, len(other)))
    return op, data[:at] + other[cut:]


def _rezip_pickle(data: bytes, edit) -> bytes:
    """The same zip checkpoint with its data.pkl replaced by ``edit(data.pkl)``."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            dst.writestr(
                info.filename, edit(payload) if info.filename.endswith("data.pkl") else payload
            )
    return buf.getvalue()


def damaged_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "damaged")
    zipped = _saved()
    legacy = _saved(_use_new_zipfile_serialization=False)
    plain = pickle.dumps({"config": small_config().to_dict(), "model": base_state_dict()}, 3)
    sources = {"zip": zipped, "legacy": legacy, "pickle": plain}
    out: list[Case] = []
    for label, data in sources.items():
        other = sources[str(rng.choice([k for k in sources if k != label]))]
        for i in range(5):
            op, mutated = _mutate(data, rng, other)
            out.append(_bytes_case(f"{op}-{label}-{i}", mutated))
    for i in range(6):  # the pickle inside an intact zip: only torch's unpickler sees it
        mutated = _rezip_pickle(zipped, lambda pkl: _mutate(pkl, rng, plain)[1])
        out.append(_bytes_case(f"inner-pickle-{i}", mutated))
    for i in range(2):  # a zip whose members were recompressed (torch wants them stored)
        buf = io.BytesIO()
        src = zipfile.ZipFile(io.BytesIO(zipped))
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=i + 1) as dst:
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info.filename))
        out.append(_bytes_case(f"deflated-members-{i}", buf.getvalue()))
    return out


# --- configs: several hostile fields at once ------------------------------------------------


def config_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "config")
    out: list[Case] = []
    for i in range(20):
        picks = rng.choice(len(FIELDS), size=int(rng.integers(1, 4)), replace=False)
        lies = {
            FIELDS[int(f)]: HOSTILE_VALUES[int(rng.integers(len(HOSTILE_VALUES)))] for f in picks
        }

        def make(folder: Path, lies=lies) -> Path:
            cfg = {**small_config().to_dict(), **lies}
            return write_checkpoint(
                folder / "model.pt", {"config": cfg, "model": base_state_dict()}
            )

        out.append(_case(f"config-{i}-{'+'.join(lies)}", make))
    return out


# --- state dicts: random operations on random keys -------------------------------------------


def _sd_edit(rng: np.random.Generator, keys: list[str]):
    key = keys[int(rng.integers(len(keys)))]
    op = str(
        rng.choice(
            ["reindex", "reshape", "retype", "drop", "transpose", "scalar", "strided", "rename"]
        )
    )
    index = int(rng.choice([7, 999, 65535, 10**6]))
    dtype = [torch.float64, torch.int8, torch.uint8, torch.bfloat16, torch.complex128][
        int(rng.integers(5))
    ]
    # at most 65**3 floats: the case's lie, not the generator, must cost the memory
    shape = tuple(int(d) for d in rng.choice([0, 1, 3, 17, 65], size=int(rng.integers(0, 4))))

    def edit(sd: dict) -> None:
        value = sd[key]
        if op == "reindex":
            parts = key.split(".")
            digits = [j for j, p in enumerate(parts) if p.isdigit() or p.startswith("layer_")]
            j = digits[0] if digits else 0
            parts[j] = f"layer_{index}" if parts[j].startswith("layer_") else str(index)
            sd[".".join(parts)] = value
        elif op == "reshape":
            sd[key] = torch.zeros(shape)
        elif op == "retype":
            sd[key] = value.to(dtype)
        elif op == "drop":
            del sd[key]
        elif op == "transpose":
            sd[key] = value.t() if value.ndim == 2 else value.flip(0)
        elif op == "scalar":
            sd[key] = torch.tensor(float(value.reshape(-1)[0]) if value.numel() else 0.0)
        elif op == "strided":
            sd[key] = torch.zeros(1).expand(*(value.shape or (1,)))
        else:
            sd[key + ".extra"] = value

    return f"{op}-{key}", edit


def state_dict_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "state-dict")
    keys = sorted(base_state_dict())
    out: list[Case] = []
    for i in range(18):
        edits = [_sd_edit(rng, keys) for _ in range(int(rng.integers(1, 3)))]

        def make(folder: Path, edits=edits) -> Path:
            sd = dict(base_state_dict())
            for _, edit in edits:
                try:
                    edit(sd)
                except KeyError:  # an earlier edit dropped the key
                    pass
            return write_checkpoint(folder / "model.pt", {"model": sd})

        out.append(_case(f"sd-{i}-{edits[0][0]}", make))
    return out


# --- wrong containers, nested deeper than the standard set goes ------------------------------


def container_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "containers")
    sd = base_state_dict()
    leaves = [  # what the state dict itself is turned into, innermost
        lambda o: o,
        lambda o: list(o.values()),
        lambda o: {k: v.numpy() for k, v in o.items()},
        lambda o: {k: v.tolist() for k, v in list(o.items())[:3]},
    ]
    wrappers = [
        lambda o: {"model": o},
        lambda o: {"state_dict": o},
        lambda o: {"model_state_dict": o},
        lambda o: [o],
        lambda o: {"checkpoint": {"model": o}},
        lambda o: {"model": {"model": o}},
        lambda o: {"config": None, "model": o},
    ]
    out: list[Case] = []
    for i in range(6):
        leaf = int(rng.integers(len(leaves)))
        chosen = [int(rng.integers(len(wrappers))) for _ in range(int(rng.integers(1, 4)))]

        def make(folder: Path, leaf=leaf, chosen=chosen) -> Path:
            obj: object = leaves[leaf](sd)
            for w in chosen:
                obj = wrappers[w](obj)
            return write_checkpoint(folder / "model.pt", obj)

        out.append(_case(f"container-{i}-{leaf}-{'-'.join(map(str, chosen))}", make))
    # {"model": {"model": ...}} 5000 deep: past the recursion limit of a naive walk
    level = b"}X\x05\x00\x00\x00model"
    deep = b"\x80\x02" + level * 5000 + b"}" + b"s" * 5000 + b"."
    out.append(_bytes_case("container-nested-5000", deep))
    return out


# --- tiny files declaring big allocations, through other opcodes -----------------------------


def tiny_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "tiny")
    out: list[Case] = []
    for i in range(3):
        n = int(rng.integers(10**8, 2**31 - 1)).to_bytes(4, "little")
        raws = [
            b"\x80\x04cbuiltins\nbytes\nJ" + n + b"\x85R.",
            b"\x80\x04ctorch\nzeros\nJ" + n + b"\x85R.",
            b"\x80\x04cbuiltins\nlist\n(cbuiltins\nrange\nJ" + n + b"\x85Rt\x81.",
        ]
        out.append(_bytes_case(f"tiny-{i}", raws[i % len(raws)]))
    return out


def generate(seed: int) -> list[Case]:
    return (
        damaged_cases(seed)
        + config_cases(seed)
        + state_dict_cases(seed)
        + container_cases(seed)
        + tiny_cases(seed)
    )
