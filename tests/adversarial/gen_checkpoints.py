"""Bad checkpoints: damaged files, wrong types, code payloads, lying configs and weights."""

from __future__ import annotations

import builtins
import importlib
import io
import os
import pickle
import runpy
import shutil
import struct
import subprocess
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from adversarial.base import (
    MARKER,
    Case,
    base_state_dict,
    rng_for,
    run_args,
    small_config,
    write_checkpoint,
)

KLASS = "checkpoints"


def _case(name: str, make, prefix: str = "") -> Case:
    """``make(folder) -> checkpoint path``; the rest of the run uses the base files."""
    return Case(KLASS, prefix + name, lambda folder: run_args(folder, make(folder)))


def _base_bytes(**save) -> bytes:
    buf = io.BytesIO()
    torch.save({"config": small_config().to_dict(), "model": base_state_dict()}, buf, **save)
    return buf.getvalue()


def _plain_pickle(protocol: int) -> bytes:
    obj = {"config": small_config().to_dict(), "model": base_state_dict()}
    return pickle.dumps(obj, protocol=protocol)


def _bytes_case(name: str, data: bytes, prefix: str = "") -> Case:
    def make(folder: Path) -> Path:
        path = folder / "model.pt"
        path.write_bytes(data)
        return path

    return _case(name, make, prefix)


# --- valid variants (must succeed) ----------------------------------------------------


def valid_cases() -> list[Case]:
    sd = base_state_dict()
    cfg = small_config().to_dict()
    layouts = {
        "dict-config": {"config": cfg, "model": sd},
        "no-config": {"model": sd},
        "state-dict-key": {"state_dict": sd, "epoch": 3},
        "dataparallel": {"model": OrderedDict((f"module.{k}", v) for k, v in sd.items())},
    }
    out = [
        _case(f"valid-{n}", lambda f, o=o: write_checkpoint(f / "model.pt", o))
        for n, o in layouts.items()
    ]
    out.append(
        _bytes_case("valid-legacy-format", _base_bytes(_use_new_zipfile_serialization=False))
    )
    out.append(_bytes_case("valid-plain-pickle", _plain_pickle(4)))
    out.append(_bytes_case("valid-absent-module-config", _absent_module_config(cfg, sd)))
    return out


def _absent_module_config(cfg: dict, sd: dict) -> bytes:
    """A config object of a class from a module that does not exist here (NEWOBJ+BUILD)."""
    import types

    module = types.ModuleType("no_such_pkg.configs")
    cls = type("TrainConfig", (), {"__module__": "no_such_pkg.configs"})
    module.TrainConfig = cls
    import sys

    sys.modules["no_such_pkg"] = types.ModuleType("no_such_pkg")
    sys.modules["no_such_pkg.configs"] = module
    try:
        obj = cls()
        obj.__dict__.update(cfg)
        buf = io.BytesIO()
        torch.save({"config": obj, "model": sd}, buf)
    finally:
        del sys.modules["no_such_pkg.configs"], sys.modules["no_such_pkg"]
    return buf.getvalue()


# --- damaged files ----------------------------------------------------------------------


def damaged_cases(seed: int) -> list[Case]:
    rng = rng_for(seed, "damaged")
    zipped, legacy, plain = (
        _base_bytes(),
        _base_bytes(_use_new_zipfile_serialization=False),
        _plain_pickle(2),
    )
    out: list[Case] = []
    for label, data, n_cut, n_flip in (
        ("zip", zipped, 30, 40),
        ("legacy", legacy, 10, 12),
        ("pickle", plain, 8, 10),
    ):
        for i in range(n_cut):
            cut = rng.randrange(1, len(data))
            out.append(_bytes_case(f"truncated-{label}-{i}@{cut}", data[:cut]))
        for i in range(n_flip):
            raw = bytearray(data)
            spots = [rng.randrange(len(raw)) for _ in range(rng.choice((1, 1, 3, 16)))]
            for spot in spots:
                raw[spot] = rng.randrange(256)
            out.append(_bytes_case(f"flipped-{label}-{i}@{spots[0]}", bytes(raw)))
    out += _zip_entry_cases(zipped)
    out += [
        _bytes_case("empty-file", b""),
        _bytes_case("zeros-4k", b"\0" * 4096),
        _bytes_case("text-file", b"this is not a checkpoint\n" * 10),
        _bytes_case(
            "npy-file",
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': "
            b"False, 'shape': (1,), }" + b" " * 60 + b"\n" + b"\0" * 8,
        ),
        _bytes_case("hdf5-magic", b"\x89HDF\r\n\x1a\n" + b"\0" * 100),
    ]
    return out


def _rezip(data: bytes, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            for name, payload in edit(info.filename, src.read(info.filename)):
                dst.writestr(name, payload)
    return buf.getvalue()


def _zip_entry_cases(data: bytes) -> list[Case]:
    def rename(old: str, new: str):
        return lambda n, p: [(n.replace(old, new), p)]

    edits = {
        "renamed-data-pkl": rename("data.pkl", "data.pickle"),
        "renamed-storage-0": rename("/data/0", "/data/zero"),
        "renamed-root-folder": lambda n, p: [("other/" + n.split("/", 1)[1], p)],
        "dropped-storage": lambda n, p: [] if n.endswith("/data/0") else [(n, p)],
        "dropped-version": lambda n, p: [] if n.endswith("version") else [(n, p)],
        "duplicated-data-pkl": lambda n, p: (
            [(n, p), (n, p)] if n.endswith("data.pkl") else [(n, p)]
        ),
        "torchscript-constants": lambda n, p: (
            [(n, p), (n.replace("data.pkl", "constants.pkl"), p)]
            if n.endswith("data.pkl")
            else [(n, p)]
        ),
        "emptied-data-pkl": lambda n, p: [(n, b"" if n.endswith("data.pkl") else p)],
        "short-storage": lambda n, p: [(n, p[: len(p) // 2] if "/data/" in n else p)],
    }
    out = [_bytes_case(f"zip-{name}", _rezip(data, edit)) for name, edit in edits.items()]
    # a central directory that declares a 2 GB uncompressed entry over the real bytes
    raw = bytearray(data)
    cd = raw.rfind(b"PK\x01\x02")
    struct.pack_into("<I", raw, cd + 24, 2_000_000_000)
    out.append(_bytes_case("zip-declared-2GB-entry", bytes(raw)))
    return out


# --- wrong types --------------------------------------------------------------------------


def type_cases() -> list[Case]:
    objects = {
        "list": [1, 2, 3],
        "int": 42,
        "str": "model",
        "none": None,
        "tensor": torch.zeros(3),
        "tuple": (base_state_dict(),),
        "set": {1, 2},
        "dict-of-ints": {"a": 1, "b": 2},
        "empty-dict": {},
        "model-is-int": {"model": 3},
        "model-is-list": {"model": [torch.zeros(2)]},
        "model-empty": {"model": {}},
        "int-keys": {"model": {1: torch.zeros(2)}},
        "bytes": b"\x00\x01",
        "nan-float": float("nan"),
        "config-is-list": {"config": [1, 2], "model": base_state_dict()},
        "config-is-str": {"config": "not json", "model": base_state_dict()},
        "config-json-string": {"config": '{"hidden_features": "x"}', "model": base_state_dict()},
    }
    return [
        _case(f"type-{name}", lambda f, o=obj: write_checkpoint(f / "model.pt", o))
        for name, obj in objects.items()
    ]


# --- code payloads --------------------------------------------------------------------------


class _Payload:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path) -> dict[str, tuple]:
    script = marker.with_name("payload.py")
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    return {
        "os.system": (os.system, (f"touch {marker}",)),
        "subprocess.Popen": (subprocess.Popen, (["touch", str(marker)],)),
        "subprocess.check_output": (subprocess.check_output, (["touch", str(marker)],)),
        "eval": (builtins.eval, (f"open({str(marker)!r}, 'w')",)),
        "exec": (builtins.exec, (f"open({str(marker)!r}, 'w').close()",)),
        "open": (builtins.open, (str(marker), "w")),
        "importlib.import_module": (importlib.import_module, ("this",)),
        "__import__": (builtins.__import__, ("antigravity",)),
        "runpy.run_path": (runpy.run_path, (str(script),)),
        "getattr": (builtins.getattr, (os, "system")),
        "shutil.copy": (shutil.copy, (str(script), str(marker))),
    }


def payload_cases() -> list[Case]:
    out: list[Case] = []
    for name in PAYLOAD_NAMES:
        for where in ("p0", "p2", "p5", "zip", "zip-config", "legacy"):
            out.append(_case(f"payload-{name}-{where}", _payload_maker(name, where)))
    return out


PAYLOAD_NAMES = (
    "os.system",
    "subprocess.Popen",
    "subprocess.check_output",
    "eval",
    "exec",
    "open",
    "importlib.import_module",
    "__import__",
    "runpy.run_path",
    "getattr",
    "shutil.copy",
)


def _payload_maker(name: str, where: str):
    def make(folder: Path) -> Path:
        marker = folder / MARKER
        func, args = _payloads(marker)[name]
        path = folder / "model.pt"
        if where == "p0":
            module, qual = func.__module__ or "builtins", func.__qualname__
            if name == "getattr":
                arg = b"(cbuiltins\nprint\nVsystem\ntR."
                path.write_bytes(b"cbuiltins\ngetattr\n" + arg)
                return path
            path.write_bytes(f"c{module}\n{qual}\n(".encode() + _p0_arg(args) + b"tR.")
            return path
        payload = _Payload(func, args) if name != "getattr" else _Payload(getattr, ("x", "upper"))
        obj = {"model": base_state_dict(), "optimizer": payload}
        if where == "zip-config":
            obj = {"config": payload, "model": base_state_dict()}
        if where in ("p2", "p5"):
            path.write_bytes(pickle.dumps(obj, protocol=int(where[1])))
        else:
            torch.save(obj, path, _use_new_zipfile_serialization=(where != "legacy"))
        return path

    return make


def _p0_arg(args: tuple) -> bytes:
    out = b""
    for arg in args:
        if isinstance(arg, list):
            out += b"(l" + b"".join(b"V" + str(a).encode() + b"\na" for a in arg)
        else:
            out += b"V" + str(arg).encode() + b"\n"
    return out


def absent_module_cases() -> list[Case]:
    raws = {
        "call-absent-function": b"cno_such_module\nrun\n(Vx\ntR.",
        "call-absent-class": b"\x80\x02cno_such_module\nThing\n)\x81}b.",  # NEWOBJ: inert
        "reduce-absent-in-dict": b"\x80\x02}Vmodel\ncno_such_module\nf\n)Rs.",
        "inst-absent": b"(ino_such_module\nThing\nVa\n.",
    }
    return [_bytes_case(f"absent-{n}", d) for n, d in raws.items()]


# --- lying configs ---------------------------------------------------------------------------

CONFIG_LIES = {
    "graph_dropout": [-0.5, 1.5, "x", float("nan"), float("inf"), None, [1]],
    "middle_fusion_dropout": [2.0, -1e-9, "0.1x"],
    "middle_fusion_layers": [
        "a",
        "1.5",
        "inf",
        -1,
        99999,
        "2,99999",
        1.5,
        [2, "x"],
        True,
        {"a": 1},
        float("inf"),
        "2;3;" * 40,
    ],
    "hidden_features": [0, -5, 10**9, "abc", float("inf"), 1.5, [16]],
    "alignn_layers": [100000, -1, "four", 10**18],
    "gcn_layers": [100000, 2.5],
    "link": ["weird", 3, None],
    "cross_modal_num_heads": [0, 10**6, "many"],
    "text_input_features": ["x", 0, 10**7],
    "use_middle_fusion": ["maybe", 2],
    "middle_fusion_hidden_dim": [-8, 10**8],
}


def config_cases() -> list[Case]:
    out = []
    for field, values in CONFIG_LIES.items():
        for i, value in enumerate(values):

            def make(folder: Path, field=field, value=value) -> Path:
                cfg = small_config().to_dict()
                cfg[field] = value
                return write_checkpoint(
                    folder / "model.pt", {"config": cfg, "model": base_state_dict()}
                )

            out.append(_case(f"config-{field}-{i}", make))
    return out


# --- state dicts asking for unbounded work ---------------------------------------------------


def _with_sd(edit):
    def make(folder: Path) -> Path:
        sd = dict(base_state_dict())
        edit(sd)
        return write_checkpoint(folder / "model.pt", {"model": sd})

    return make


def state_dict_cases() -> list[Case]:
    fusion = "middle_fusion_modules.layer_2."

    def far_layer(sd):
        sd["alignn_layers.99999.node_update.src_gate.weight"] = torch.zeros(16, 16)

    def far_gcn(sd):
        sd["gcn_layers.100000.src_gate.weight"] = torch.zeros(16, 16)

    def far_fusion(sd):
        for k in [k for k in sd if k.startswith(fusion)]:
            sd[k.replace("layer_2", "layer_99999")] = sd[k]

    def sparse(sd):
        sd["fc.weight"] = sd["fc.weight"].to_sparse()

    def complex_(sd):
        sd["fc.weight"] = sd["fc.weight"].to(torch.complex64)

    def zero_extra(sd):
        sd["extra.weight"] = torch.zeros(0, 16)

    def zero_replace(sd):
        sd["fc.bias"] = torch.zeros(0)

    def scale_two(sd):
        sd[fusion + "text_scale"] = torch.ones(2)

    def expanded(sd):
        sd["atom_embedding.layer.0.weight"] = torch.zeros(1).expand(16384, 92)

    def expanded_layers(sd):
        sd["gcn_layers.0.src_gate.weight"] = torch.zeros(1).expand(16384, 16384)

    def int_weights(sd):
        sd["fc.weight"] = sd["fc.weight"].to(torch.int64)

    def bool_weights(sd):
        sd["fc.weight"] = sd["fc.weight"] > 0

    def half(sd):
        for k in sd:
            if sd[k].is_floating_point():
                sd[k] = sd[k].half()

    def missing_middle_layer(sd):
        for k in [k for k in sd if k.startswith("alignn_layers.1.")]:
            del sd[k]

    def gap_layers(sd):
        for k in [k for k in sd if k.startswith("alignn_layers.3.")]:
            sd[k.replace("alignn_layers.3.", "alignn_layers.63.")] = sd.pop(k)

    def nan(key, value):
        def edit(sd):
            sd[key] = sd[key].clone()
            sd[key].view(-1)[0] = value

        return edit

    edits = {
        "layer-99999": far_layer,
        "gcn-100000": far_gcn,
        "fusion-layer-99999": far_fusion,
        "sparse": sparse,
        "complex": complex_,
        "zero-size-extra": zero_extra,
        "zero-size-bias": zero_replace,
        "text-scale-two": scale_two,
        "expanded-atom": expanded,
        "expanded-conv": expanded_layers,
        "int-weights": int_weights,
        "bool-weights": bool_weights,
        "half": half,
        "missing-layer-1": missing_middle_layer,
        "layer-63": gap_layers,
        "nan-atom-embedding": nan("atom_embedding.layer.0.weight", float("nan")),
        "inf-gate": nan(fusion + "gate.0.weight", float("inf")),
        "neginf-fc": nan("fc.weight", float("-inf")),
        "nan-running-var": nan("gcn_layers.0.bn_nodes.running_var", float("nan")),
        "nan-text-transform": nan(fusion + "text_transform.0.weight", float("nan")),
        "inf-layer-norm": nan(fusion + "layer_norm.weight", float("inf")),
    }
    return [_case(f"sd-{name}", _with_sd(edit)) for name, edit in edits.items()]


# --- tiny files that cost gigabytes -----------------------------------------------------------


def tiny_file_cases() -> list[Case]:
    big = 2_000_000_000
    raws = {
        "bytearray-reduce-2GB": b"\x80\x04cbuiltins\nbytearray\nJ\x00\x945w\x85R.",
        "bytearray8-declared": b"\x80\x05\x96" + struct.pack("<Q", big) + b"abc.",
        "binbytes8-declared": b"\x80\x04\x8e" + struct.pack("<Q", big) + b"abc.",
        "binunicode8-declared": b"\x80\x04\x8d" + struct.pack("<Q", big) + b"abc.",
        "long4-declared": b"\x80\x02\x8b" + struct.pack("<i", big) + b"\x01.",
        "binstring-declared": b"T" + struct.pack("<i", big) + b"abc.",
        "bytearray-in-dict": b"\x80\x04}Vmodel\ncbuiltins\nbytearray\nJ\x00\x945w\x85Rs.",
        "set-of-bytearray": b"\x80\x04cbuiltins\nset\n(cbuiltins\nbytearray\nJ\x00\x945w\x85Rl"
        b"\x85R.",
    }
    out = [_bytes_case(f"tiny-{n}", d) for n, d in raws.items()]
    legacy = _base_bytes(_use_new_zipfile_serialization=False)
    out.append(_bytes_case("tiny-legacy-storage-2GB", _legacy_big_storage(legacy)))
    return out


def _legacy_big_storage(data: bytes) -> bytes:
    """The legacy format with the first storage's declared element count set to 5e8."""
    at = data.find(b"storage")
    if at < 0:
        return data
    # the numel follows the location string as a BININT (J) or BININT1 (K)
    cpu = data.find(b"cpu", at)
    op = cpu + 3
    while op < len(data) and data[op : op + 1] not in (b"J", b"K", b"M"):
        op += 1
    head, tail = data[:op], data[op:]
    size = {b"J": 5, b"K": 2, b"M": 3}[tail[:1]]
    return head + b"J" + struct.pack("<i", 500_000_000) + tail[size:]


def generate(seed: int) -> list[Case]:
    return (
        valid_cases()
        + damaged_cases(seed)
        + type_cases()
        + payload_cases()
        + absent_module_cases()
        + config_cases()
        + state_dict_cases()
        + tiny_file_cases()
    )
