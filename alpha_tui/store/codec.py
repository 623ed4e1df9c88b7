"""ActivationCache <-> (JSON tree, named arrays), driven by the dataclass type hints.

Fields are not listed by hand: every field of ``ActivationCache`` is walked, arrays
go to ``.npy`` files and everything else into the manifest, so a field another part
of the tool adds later round-trips without a change here. Decoding follows the
declared types (never class names stored in the file), so a manifest cannot make the
reader build arbitrary objects.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

import numpy as np

from alpha_tui.capture.cache import TRANSIENT, ActivationCache
from alpha_tui.errors import UserError
from alpha_tui.store.layout import ARRAY_DIR, safe_name

ARRAY = "$npy"
MAPPING = "$map"
PLAIN_FIELD = "meta"  # free-form JSON the report prints: kept readable, not wrapped


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def file_for(self, parts: list[str]) -> str:
        stem = ".".join(safe_name(p) for p in parts)
        name, n = f"{ARRAY_DIR}/{stem}.npy", 1
        while name in self.arrays:
            n += 1
            name = f"{ARRAY_DIR}/{stem}~{n}.npy"
        return name

    def encode(self, value: Any, parts: list[str]) -> Any:
        if isinstance(value, np.ndarray):
            name = self.file_for(parts)
            self.arrays[name] = value
            return {ARRAY: name}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                f.name: self.encode(getattr(value, f.name), [*parts, f.name])
                for f in dataclasses.fields(value)
            }
        if isinstance(value, dict):
            return {
                MAPPING: [
                    [self.encode(k, parts), self.encode(v, [*parts, _key_text(k)])]
                    for k, v in value.items()
                ]
            }
        if isinstance(value, list | tuple):
            return [self.encode(v, [*parts, str(i)]) for i, v in enumerate(value)]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, str | int | float | bool):
            return value
        raise TypeError(f"cannot store {type(value).__name__} at {'.'.join(parts)}")


def _key_text(key: Any) -> str:
    return "~".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


def encode_cache(cache: ActivationCache) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(field tree for the manifest, relative file name -> array)."""
    encoder = _Encoder()
    fields = {}
    for f in stored_fields():
        value = getattr(cache, f.name)
        plain = f.name == PLAIN_FIELD
        fields[f.name] = _plain(value) if plain else encoder.encode(value, [f.name])
    return fields, encoder.arrays


def stored_fields() -> list[dataclasses.Field]:
    """The cache's fields a store holds: all but in-memory handles (``checks``)."""
    return [f for f in dataclasses.fields(ActivationCache) if not f.metadata.get(TRANSIENT)]


def field_files(fields: dict[str, Any]) -> dict[str, list[str]]:
    """Top-level field name -> the array files under it, read from the manifest tree."""

    def walk(node: Any, out: list[str]) -> None:
        if isinstance(node, dict):
            if ARRAY in node:
                out.append(node[ARRAY])
                return
            for value in node.values():
                walk(value, out)
        elif isinstance(node, list) and not set(map(type, node)) <= _JSON_SCALARS:
            for value in node:  # (10^5 crystal ids and formulas are skipped in C above)
                walk(value, out)

    found: dict[str, list[str]] = {}
    for name, node in fields.items():
        if name != PLAIN_FIELD:
            walk(node, found.setdefault(name, []))
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


LoadArray = Callable[[str], np.ndarray]
_SCALARS = (str, int, float, bool)  # decoded as the JSON gives them, item by item or not
_JSON_SCALARS = {str, int, float, bool, type(None)}


def decode_cache(fields: dict[str, Any], load: LoadArray) -> ActivationCache:
    hints = typing.get_type_hints(ActivationCache)
    kwargs = {}
    for f in stored_fields():
        if f.name not in fields:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue  # an older store without a newer optional field: the default holds
            raise UserError(
                f"store lacks the field {f.name!r} (written by an older alpha-tui); "
                "recapture it with alpha-tui extract"
            )
        node = fields[f.name]
        kwargs[f.name] = dict(node) if f.name == PLAIN_FIELD else _decode(node, hints[f.name], load)
    return ActivationCache(**kwargs)


def _decode(node: Any, hint: Any, load: LoadArray) -> Any:
    if hint is Any or hint is typing.Any:
        return node
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if node is None:
            return None
        options = [a for a in args if a is not type(None)]
        return _decode(node, options[0], load)
    if hint is np.ndarray or origin is np.ndarray:
        return load(node[ARRAY])
    if dataclasses.is_dataclass(hint):
        sub = typing.get_type_hints(hint)
        return hint(**{k: _decode(v, sub[k], load) for k, v in node.items() if k in sub})
    if origin is dict:
        key_hint, value_hint = args or (Any, Any)
        return {
            _decode(k, key_hint, load): _decode(v, value_hint, load) for k, v in node[MAPPING]
        }
    if origin is list:
        if args and args[0] in _SCALARS:  # 10^5 crystal ids: per-item decode took 2 s
            return list(node)
        return [_decode(v, args[0] if args else Any, load) for v in node]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(v, args[0], load) for v in node)
        return tuple(_decode(v, a, load) for v, a in zip(node, args, strict=True))
    return node
