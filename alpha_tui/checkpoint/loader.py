"""Opening a user's checkpoint: every on-disk layout, safe by default, config recovered.

The users' training scripts saved checkpoints in several layouts over time (see
``shared/docs/model-family.md``), usually with a config object whose class cannot be
imported here. Loading goes through :mod:`alpha_tui.checkpoint.safe_unpickle`, so a
file never runs code unless the user passes ``--trust-checkpoint``. Whatever config is
found is cross-checked against the weights, and the weights win; every decision is
recorded in ``notes`` so the TUI and reports can show how the model was understood.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpha_tui.checkpoint import safe_unpickle
from alpha_tui.checkpoint.assumptions import assumed_settings
from alpha_tui.checkpoint.config import TEXT_WIDTH_ALIASES, ModelConfig, parse_fusion_layers
from alpha_tui.checkpoint.infer import (
    check_allocation,
    infer_config,
    infer_fields,
    reconcile_config,
    strip_wrapper_prefix,
)
from alpha_tui.checkpoint.safe_unpickle import ForeignObject, UnsafeGlobalError
from alpha_tui.errors import UserError
from alpha_tui.warning_notes import folded_warnings

__all__ = ["LoadedCheckpoint", "TRUST_FLAG", "load_checkpoint", "sha256_file"]

TRUST_FLAG = "--trust-checkpoint"
CONFIG_JSON = "config.json"
# Where the users' scripts (and common trainers) put the weights and the config.
STATE_DICT_KEYS = ("model", "state_dict", "model_state_dict", "model_state", "net", "network")
CONFIG_KEYS = ("config", "model_config", "cfg", "hparams", "hyper_parameters", "args")
_FINDING = re.compile(r"^[a-z_]+=")
_MODEL_FIELDS = frozenset(f.name for f in fields(ModelConfig)) - {"extra"}


@dataclass
class LoadedCheckpoint:
    path: Path
    sha256: str
    config: ModelConfig
    config_source: str  # "checkpoint" | "config.json" | "inferred"
    state_dict: dict[str, torch.Tensor]
    notes: list[str]
    top_level_keys: list[str]  # empty for a bare state_dict or a pickled model object
    meta: dict[str, Any] = field(default_factory=dict)  # scalar top-level entries (epoch...)
    # Fields a stored config (checkpoint or config.json) actually set.
    stated_fields: frozenset[str] = frozenset()
    # Settings that took a default because nothing stated them, as sentences to show.
    assumptions: list[str] = field(default_factory=list)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# --- the file itself ---------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist; check the path")
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix in (".pt", ".pth", ".ckpt"))
        hint = f", e.g. {path / inside[0]}" if inside else " (it holds no .pt/.pth/.ckpt file)"
        raise UserError(f"checkpoint {path} is a directory; pass the checkpoint file{hint}")
    if not path.is_file():
        raise UserError(f"checkpoint {path} is not a regular file; pass a .pt file")
    if path.stat().st_size == 0:
        raise UserError(
            f"checkpoint {path.name} is empty (0 bytes); the save was probably interrupted, "
            "use another checkpoint"
        )


def _sniff(head: bytes) -> str:
    """What kind of file this is, from its first bytes (torch.load's errors are cryptic)."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head[257:262] == b"ustar":
        return "tar"
    if head[:4] == b"\x89HDF":
        return "hdf5"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if len(head) > 9 and head[8:10] in (b'{"', b"{'"):
        return "safetensors"
    if b"\x00" not in head:
        text = head.decode("utf-8", errors="replace")
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        if printable >= 0.95 * max(len(text), 1):
            return "text"
    return "unknown"


def _not_a_checkpoint(path: Path, kind: str, head: bytes) -> UserError:
    what = {
        "hdf5": "an HDF5 file (Keras/h5py), not a PyTorch checkpoint",
        "npy": "a NumPy .npy array, not a PyTorch checkpoint",
        "safetensors": "a safetensors file, which alpha-tui does not read yet",
        "text": "a text file, not a PyTorch checkpoint (it starts with "
        f"{head[:24].decode('utf-8', errors='replace')!r})",
    }.get(kind, f"not a PyTorch checkpoint (unrecognised content starting {head[:8].hex(' ')})")
    return UserError(f"{path.name} is {what}; pass the .pt file written by torch.save")


def _truncated(path: Path, detail: str) -> UserError:
    return UserError(
        f"{path.name} is truncated or corrupt ({detail}); the copy or save was probably "
        "interrupted, re-copy or re-save the checkpoint"
    )


def _zip_records(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise _truncated(path, f"its zip index is unreadable: {err}") from None
    _check_zip_sizes(path, infos)
    return [info.filename.split("/", 1)[-1] for info in infos]


# deflate cannot expand data more than ~1032:1; a larger declared ratio is a lie
_MAX_ZIP_RATIO = 1100


def _check_zip_sizes(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Declared entry sizes against the file's length, before torch allocates them."""
    length = path.stat().st_size
    for info in infos:
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            info.header_offset + info.compress_size > length
        ):
            raise _truncated(path, f"zip entry {info.filename} declares more data than it holds")
        if info.file_size > _MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise _truncated(path, f"zip entry {info.filename} declares an impossible size")


def _read_raw(path: Path, kind: str, data: bytes | None, *, trust: bool) -> Any:
    if kind == "zip":
        records = _zip_records(path)
        if "constants.pkl" in records and not trust:
            raise UserError(
                f"{path.name} is a TorchScript archive (torch.jit.save), which runs code to "
                "load; re-save it with torch.save(model.state_dict(), path), or if you trust "
                f"it rerun with {TRUST_FLAG}"
            )
        if "data.pkl" not in records and "constants.pkl" not in records:
            shown = ", ".join(records[:4])
            raise UserError(
                f"{path.name} is a zip archive but not a torch.save checkpoint (no data.pkl; "
                f"it holds {shown}); pass the .pt file written by torch.save"
            )
    if kind == "tar" and not trust:
        raise UserError(
            f"{path.name} uses the pre-2018 tar checkpoint format, which alpha-tui reads "
            f"only with {TRUST_FLAG}; if you trust it, rerun with that flag"
        )
    if trust:
        if data is not None:
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
        with open(path, "rb") as handle:
            return torch.load(handle, map_location="cpu", weights_only=False, mmap=False)
    if data is None:
        with open(path, "rb") as handle:
            return safe_unpickle.restricted_torch_load(handle)
    try:
        return safe_unpickle.restricted_torch_load(io.BytesIO(data))
    except RuntimeError as err:
        if "magic number" not in str(err).lower():
            raise
    # Not torch.save's legacy format: a plain pickle.dump of the checkpoint dict.
    return safe_unpickle.loads(data, encoding="utf-8")


def _read_file(path: Path) -> tuple[bytes, bytes | None]:
    """The first bytes, and the whole file when it is a pickle (read into memory anyway).

    Holding those bytes lets the digest and the unpickler share one read of the file.
    """
    with open(path, "rb") as handle:
        head = handle.read(512)
        if _sniff(head) != "pickle":
            return head, None
        return head, head + handle.read()


def _load_object(path: Path, head: bytes, data: bytes | None, *, trust: bool) -> Any:
    kind = _sniff(head)
    if kind not in ("zip", "pickle", "tar"):
        raise _not_a_checkpoint(path, kind, head)
    try:
        return _read_raw(path, kind, data, trust=trust)
    except UserError:
        raise
    except UnsafeGlobalError as err:
        raise UserError(
            f"{path.name} wants to call {err.qualified_name} while unpickling; refusing. "
            f"If you trust this file, rerun with {TRUST_FLAG}"
        ) from None
    except Exception as err:  # noqa: BLE001 - any failure to parse an untrusted file is its fault
        raise _read_error(path, err, trust=trust) from None


def _read_error(path: Path, err: Exception, *, trust: bool) -> UserError:
    if trust and isinstance(err, ModuleNotFoundError | AttributeError):
        return UserError(
            f"{path.name} needs Python code that is not importable here ({err}); run without "
            f"{TRUST_FLAG} to read it safely"
        )
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, EOFError) or any(
        s in message.lower() for s in ("truncated", "ran out of input", "unexpected eof")
    ):
        return _truncated(path, message)
    if isinstance(err, pickle.UnpicklingError | RuntimeError | ValueError | zipfile.BadZipFile):
        return UserError(
            f"could not read {path.name} as a PyTorch checkpoint ({message}); check that "
            "it was written by torch.save and copied completely"
        )
    return UserError(
        f"could not read {path.name} as a PyTorch checkpoint ({type(err).__name__}: "
        f"{message}); check that it was written by torch.save"
    )


# --- where the weights are -----------------------------------------------------------------


def _is_module_record(obj: Any) -> bool:
    return isinstance(obj, ForeignObject) and {"_parameters", "_modules"} <= obj.fields().keys()


def _module_record_state_dict(record: ForeignObject, prefix: str = "") -> dict[str, Any]:
    """The state_dict of a whole pickled ``nn.Module`` read without importing its class."""
    attrs = record.fields()
    out: dict[str, Any] = {}
    for name, value in _items(attrs.get("_parameters")):
        if isinstance(value, torch.Tensor):
            out[prefix + str(name)] = value
    skip = attrs.get("_non_persistent_buffers_set") or set()
    for name, value in _items(attrs.get("_buffers")):
        if isinstance(value, torch.Tensor) and name not in skip:
            out[prefix + str(name)] = value
    for name, child in _items(attrs.get("_modules")):
        if _is_module_record(child):
            out.update(_module_record_state_dict(child, f"{prefix}{name}."))
    return out


def _items(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, ForeignObject):
        return list(value.items.items())
    return []


def _tensor_mapping(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, torch.nn.Module):
        return dict(obj.state_dict())
    if _is_module_record(obj):
        return _module_record_state_dict(obj) or None
    if (
        isinstance(obj, Mapping)
        and obj
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    ):
        return dict(obj)
    return None


def _container(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, Mapping):
        return {str(k): v for k, v in raw.items()}
    if isinstance(raw, ForeignObject):
        return raw.fields()
    return None


def _type_name(obj: Any) -> str:
    if isinstance(obj, ForeignObject):
        return obj.qualified_name
    return f"{type(obj).__module__}.{type(obj).__qualname__}".removeprefix("builtins.")


def _locate_state_dict(
    raw: Any, container: dict[str, Any] | None, path: Path
) -> tuple[dict[str, torch.Tensor], str]:
    direct = _tensor_mapping(raw)
    if direct is not None:
        if isinstance(raw, Mapping):
            return direct, "the file is a bare state_dict"
        return direct, f"the file is a pickled model object ({_type_name(raw)})"
    if container is None:
        raise UserError(
            f"no state_dict found in {path.name}: it holds a {_type_name(raw)}, not a dict; "
            "re-save with torch.save({'model': model.state_dict()}, path)"
        )
    for key in STATE_DICT_KEYS:
        if key not in container:
            continue
        found = _tensor_mapping(container[key])
        if found is not None:
            return found, f"state_dict under '{key}'"
        inner = _container(container[key]) or {}
        for sub in STATE_DICT_KEYS:
            found = _tensor_mapping(inner.get(sub))
            if found is not None:
                return found, f"state_dict under '{key}' -> '{sub}'"
    keys = ", ".join(repr(k) for k in container) or "none"
    raise UserError(
        f"no state_dict found in {path.name}: top-level keys are {keys}; expected 'model', "
        "'state_dict' or 'model_state_dict' holding tensors, or a bare state_dict"
    )


# --- where the config is -------------------------------------------------------------------


def _config_mapping(value: Any) -> dict[str, Any] | None:
    container = _container(value)
    if container is not None:
        return container
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    # Only reachable with trust=True, where the real class was imported.
    for method in ("model_dump", "dict", "to_dict"):
        dump = getattr(value, method, None)
        if callable(dump):
            try:
                result = dump()
            except Exception:  # noqa: BLE001 - a trusted object's odd API; fall through
                continue
            if isinstance(result, Mapping):
                return {str(k): v for k, v in result.items()}
    attrs = getattr(value, "__dict__", None)
    return dict(attrs) if isinstance(attrs, dict) else None


def _model_section(mapping: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The part of a config that describes the network (TrainingConfig nests it as ``model``)."""
    best, where = mapping, ""
    score = len(_MODEL_FIELDS & mapping.keys())
    for sub in ("model", "model_config"):
        inner = _config_mapping(mapping.get(sub)) if sub in mapping else None
        if inner is not None and len(_MODEL_FIELDS & inner.keys()) > score:
            best, where, score = inner, f".{sub}", len(_MODEL_FIELDS & inner.keys())
    return (best if score else None), where


def _describe(value: Any) -> str:
    if isinstance(value, ForeignObject):
        return f"a {value.qualified_name} object (class not importable here; fields read as data)"
    if isinstance(value, Mapping):
        return "a plain dict"
    return f"a {_type_name(value)}"


def _config_in_checkpoint(
    container: dict[str, Any] | None, notes: list[str]
) -> dict[str, Any] | None:
    if container is None:
        return None
    for key in CONFIG_KEYS:
        if key not in container:
            continue
        value = container[key]
        mapping = _config_mapping(value)
        section, where = _model_section(mapping) if mapping is not None else (None, "")
        if section is None:
            notes.append(f"checkpoint entry '{key}' ({_describe(value)}) has no model fields")
            continue
        notes.append(f"config: checkpoint entry '{key}{where}', {_describe(value)}")
        return section
    return None


def _config_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    json_path = path.parent / CONFIG_JSON
    if not json_path.exists():
        return None
    fix = "fix it, or move it away to have the config inferred from the weights"
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(
            f"{CONFIG_JSON} beside {path.name} is not valid JSON (line {err.lineno}: "
            f"{err.msg}); {fix}"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise UserError(
            f"{CONFIG_JSON} beside {path.name} is unreadable ({reason}); {fix}"
        ) from None
    if not isinstance(data, dict):
        raise UserError(
            f"{CONFIG_JSON} beside {path.name} holds a JSON {type(data).__name__}, not an "
            f"object; {fix}"
        )
    section, where = _model_section(data)
    if section is None:
        notes.append(f"{CONFIG_JSON} beside the checkpoint has no model fields; ignored")
        return None
    entry = f" (its {where[1:]!r} entry)" if where else ""
    notes.append(f"config: {CONFIG_JSON} beside the checkpoint{entry}")
    return section


def _plain(value: Any, depth: int = 0) -> Any:
    """JSON-ready copy of a config value: reports and exports dump ``config.extra``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth > 8:
        return repr(value)
    if isinstance(value, ForeignObject):
        fields_ = {k: _plain(v, depth + 1) for k, v in value.fields().items()}
        return {"__class__": value.qualified_name, **fields_}
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v, depth + 1) for v in value), key=repr)
    if isinstance(value, torch.Tensor | np.ndarray | np.generic):
        if value.ndim == 0:
            return value.item()
        return f"<{type(value).__name__} {list(value.shape)}>"
    return repr(value)


def _coerce(mapping: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Types as ModelConfig expects; a value that cannot be read falls back to the default."""
    defaults = ModelConfig()
    out = {k: _plain(v) for k, v in mapping.items()}
    for name in _MODEL_FIELDS & out.keys():
        value, default = out[name], getattr(defaults, name)
        try:
            out[name] = _as_type(name, value, default)
        except (TypeError, ValueError):
            del out[name]
            notes.append(
                f"config field {name}={value!r} is unreadable; using the default {default!r}"
            )
    return out


def _as_type(name: str, value: Any, default: Any) -> Any:
    if name == "middle_fusion_layers":
        return parse_fusion_layers(value)
    if value is None:
        raise ValueError(name)
    if isinstance(default, bool):
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(value)
        return bool(value)
    if isinstance(default, int):
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str | int | float):
            raise TypeError(value)
        return str(value)
    return value


def _meta(container: dict[str, Any] | None) -> dict[str, Any]:
    if container is None:
        return {}
    skip = set(STATE_DICT_KEYS) | set(CONFIG_KEYS)
    out: dict[str, Any] = {}
    for key, value in container.items():
        if key in skip:
            continue
        if isinstance(value, torch.Tensor | np.generic) and value.ndim == 0:
            value = value.item()
        if isinstance(value, bool | int | float | str) and len(str(value)) <= 200:
            out[key] = value
    return out


def load_checkpoint(path: str | Path, *, trust: bool = False) -> LoadedCheckpoint:
    """Read a checkpoint in any known layout; never runs code from it unless ``trust``.

    Warnings torch raises on the way (a changed class source, a deprecated format)
    become notes of the checkpoint instead of lines on stderr.
    """
    with folded_warnings("reading the checkpoint") as warned:
        loaded = _read_checkpoint(path, trust=trust)
    loaded.notes.extend(warned)
    return loaded


def _read_checkpoint(path: str | Path, *, trust: bool) -> LoadedCheckpoint:
    path = Path(path).expanduser()
    _check_file(path)
    try:
        head, data = _read_file(path)
        digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(path)
    except OSError as err:
        raise UserError(
            f"cannot read {path}: {err.strerror or err}; check its permissions"
        ) from None
    raw = _load_object(path, head, data, trust=trust)
    container = _container(raw) if not isinstance(raw, torch.nn.Module) else None
    notes: list[str] = []
    if trust:
        notes.append(f"loaded with {TRUST_FLAG}: the file's own code was allowed to run")

    state_dict, where = _locate_state_dict(raw, container, path)
    bare = where.startswith("the file is")
    notes.append(where)
    state_dict, prefix_notes = strip_wrapper_prefix(state_dict)
    notes.extend(prefix_notes)
    state_dict = {k: v.detach().cpu() for k, v in state_dict.items()}

    top_container = None if bare else container
    mapping = _config_in_checkpoint(top_container, notes)
    source = "checkpoint"
    json_path = path.parent / CONFIG_JSON
    if mapping is not None and json_path.exists():
        notes.append(
            f"ignored {CONFIG_JSON} beside the checkpoint: the checkpoint has its own config"
        )
    if mapping is None:
        mapping = _config_json(path, notes)
        source = "config.json"

    stated: set[str] = set()
    inferred, inferred_notes = infer_fields(state_dict)
    if mapping is None:
        notes.append("no config in the checkpoint or beside it: inferring it from the weights")
        config, inferred_notes = infer_config(state_dict)
        notes.extend(inferred_notes)
        source = "inferred"
    else:
        coerced = _coerce(mapping, notes)
        config = ModelConfig.from_mapping(coerced)
        stated = set(coerced) & _MODEL_FIELDS
        if coerced.keys() & set(TEXT_WIDTH_ALIASES):
            stated.add("text_input_features")
        # Findings ("hidden_features=128 (...)") are implied by the check below; keep
        # only the anomalies (inconsistent shapes, modules that never run...).
        notes.extend(n for n in inferred_notes if not _FINDING.match(n))
        config, check_notes = reconcile_config(config, inferred, stated=stated)
        notes.extend(check_notes)

    check_allocation(config, state_dict)
    return LoadedCheckpoint(
        path=path,
        sha256=digest,
        config=config,
        config_source=source,
        state_dict=state_dict,
        notes=notes,
        top_level_keys=[] if bare or container is None else list(container),
        meta=_meta(top_container),
        stated_fields=frozenset(stated),
        assumptions=assumed_settings(config, source=source, known=stated | set(inferred)),
    )
