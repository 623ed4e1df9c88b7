"""Unpickling users' checkpoints without running any code they contain.

A checkpoint is a pickle, and a pickle is a program: its REDUCE/INST/OBJ opcodes call
whatever global the file names. ``torch.load(weights_only=True)`` would be safe but
refuses the users' pickled ``models.alignn.ALIGNNConfig`` outright, and that object is
where the configuration lives. So this module is a ``pickle_module`` for
``torch.load(..., weights_only=False)`` whose ``find_class`` decides what a global means:

* a short allowlist (tensor rebuilders, ``OrderedDict``, containers, numpy array and
  scalar reconstruction, a few plain value types) resolves to the real object;
* everything else resolves to a fresh placeholder class that is never imported. Creating
  an instance of it the way pickle creates ordinary objects (NEWOBJ / BUILD /
  ``copyreg._reconstructor``) yields an inert :class:`ForeignObject` that just records
  the module, name, arguments and state, so config values can be read from it;
* *calling* a placeholder (REDUCE, INST/OBJ with arguments) raises
  :class:`UnsafeGlobalError` naming the global: that is what ``os.system`` payloads do.

Both torch 2.2 and 2.13 build their ``UnpicklerWrapper`` by subclassing
``pickle_module.Unpickler`` and delegate every global except legacy ``*Storage`` names
(mapped to their inert ``StorageType`` marker) to our ``find_class``; their legacy
(non-zip) reader also calls ``pickle_module.load`` for its header records, which is
this module's restricted ``load``.
"""

from __future__ import annotations

import _compat_pickle
import contextvars
import io
import os
import pathlib
import pickle
import pickletools
import sys
import warnings
from collections import OrderedDict
from contextlib import suppress as contextlib_suppress
from datetime import date, datetime, time, timedelta, timezone
from typing import IO, Any

import torch

__all__ = [
    "ForeignObject",
    "Unpickler",
    "UnsafeGlobalError",
    "load",
    "loads",
    "restricted_torch_load",
]


class UnsafeGlobalError(Exception):
    """The pickle asked to call a global that is not on the allowlist."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        super().__init__(f"{module}.{name}")

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.name}"


class PickleBoundError(ValueError):
    """The pickle asks for more memory than the file could possibly hold."""


# Bytes a load may materialise, set by restricted_torch_load for the file it reads:
# twice the file's length plus 1 MiB (the storages of a zip checkpoint are stored, not
# compressed, so real files stay well inside). None: the stream's remaining length.
_BUDGET: contextvars.ContextVar[int | None] = contextvars.ContextVar("budget", default=None)
_SLACK = 1 << 20


def _stream_length(file: Any) -> int | None:
    """Bytes left in a seekable stream, without reading it."""
    try:
        pos = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(pos)
    except (AttributeError, OSError, ValueError):
        return None
    return max(int(end) - int(pos), 0)


def _prescan(file: Any) -> None:
    """Walk the opcodes without running them, so a declared length is checked first.

    The C unpickler allocates a BINBYTES8/BYTEARRAY8 of the length the file declares
    before reading it; ``pickletools.genops`` reads it from the stream, which can only
    return what is there, so a 56-byte file cannot cost 2 GB.
    """
    try:
        pos = file.tell()
    except (AttributeError, OSError, ValueError):
        return
    try:
        for opcode, _arg, _where in pickletools.genops(file):
            if opcode.name == "STOP":
                break
    except ValueError as err:
        message = str(err).splitlines()[0]
        if "remain" in message or "expected" in message:
            raise PickleBoundError(f"pickle declares more data than it holds: {message}") from None
        # other malformations are left for the real unpickler to report
    finally:
        file.seek(pos)


class ForeignObject:
    """Inert record of an object whose class was not imported.

    Slots (no ``__dict__``) so a crafted BUILD cannot plant an instance attribute that
    shadows ``__setstate__`` and gets called on a second BUILD.
    """

    __slots__ = ("module", "name", "args", "kwargs", "state", "items", "list_items")

    module: str
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any
    items: dict[Any, Any]
    list_items: list[Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> ForeignObject:
        obj = object.__new__(cls)
        obj.module = getattr(cls, "foreign_module", cls.__module__)
        obj.name = getattr(cls, "foreign_name", cls.__qualname__)
        obj.args = args
        obj.kwargs = dict(kwargs)
        obj.state = None
        obj.items = {}
        obj.list_items = []
        return obj

    def __setstate__(self, state: Any) -> None:
        self.state = state

    # Subclasses of dict/list are filled by SETITEM(S)/APPEND(S) before BUILD.
    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.list_items.append(value)

    def extend(self, values: Any) -> None:
        self.list_items.extend(values)

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.name}"

    def fields(self) -> dict[str, Any]:
        """Attribute values as the real object would have had them.

        Handles the shapes ``__getstate__`` produces: a plain ``__dict__``; pydantic v1's
        ``{"__dict__": ..., "__fields_set__": ..., "__private_attribute_values__": ...}``
        (the users' ``ALIGNNConfig`` is a v1 ``BaseSettings``); pydantic v2's
        ``{"__dict__": ..., "__pydantic_extra__": ...}``; ``(dict_state, slot_state)``;
        and the items of dict subclasses (EasyDict-style configs).
        """
        out: dict[str, Any] = {}
        out.update({str(k): v for k, v in self.items.items()})
        state = self.state
        parts: list[Any] = list(state) if isinstance(state, tuple) else [state]
        for part in parts:
            if not isinstance(part, dict):
                continue
            inner = part.get("__dict__")
            if isinstance(inner, dict) and _is_pydantic_state(part):
                out.update({str(k): v for k, v in inner.items()})
                extra = part.get("__pydantic_extra__")
                if isinstance(extra, dict):
                    out.update({str(k): v for k, v in extra.items()})
            else:
                out.update({str(k): v for k, v in part.items()})
        return out

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields().get(key, default)

    def __repr__(self) -> str:
        return f"<{self.qualified_name} (not imported), {len(self.fields())} fields>"


# Keys next to ``__dict__`` in a pickled pydantic model's state (v1 and v2).
_PYDANTIC_V1_KEYS = frozenset({"__fields_set__", "__private_attribute_values__"})


def _is_pydantic_state(part: dict[Any, Any]) -> bool:
    """A plain object's ``__dict__`` never has dunder keys; pydantic's state always does."""
    keys = {str(k) for k in part}
    return bool(keys & _PYDANTIC_V1_KEYS) or any(k.startswith("__pydantic") for k in keys)


class _ForeignClass(type):
    """Metaclass of placeholders: instantiating via NEWOBJ is fine, calling is refused."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise UnsafeGlobalError(cls.foreign_module, cls.foreign_name)  # type: ignore[attr-defined]

    def __repr__(cls) -> str:
        return f"<placeholder {cls.foreign_module}.{cls.foreign_name}>"  # type: ignore[attr-defined]


def _placeholder(module: str, name: str) -> type:
    namespace = {"__slots__": (), "foreign_module": module, "foreign_name": name}
    # torch's legacy reader inspects `dump_patches` on pickled module classes.
    namespace["dump_patches"] = False
    return _ForeignClass(name.rsplit(".", 1)[-1] or "Foreign", (ForeignObject,), namespace)


def _is_placeholder(obj: Any) -> bool:
    return isinstance(obj, _ForeignClass)


# --- safe stand-ins for the few helper callables pickles use -----------------------------


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor``: protocol 0/1 construction of a plain class instance."""
    if not _is_placeholder(cls):
        raise UnsafeGlobalError("copyreg", "_reconstructor")
    obj = cls.__new__(cls) if state is None else cls.__new__(cls, state)
    return obj


def _safe_newobj(cls: Any, *args: Any) -> Any:
    if not _is_placeholder(cls):
        raise UnsafeGlobalError("copyreg", "__newobj__")
    return cls.__new__(cls, *args)


def _safe_newobj_ex(cls: Any, args: Any, kwargs: Any) -> Any:
    if not _is_placeholder(cls):
        raise UnsafeGlobalError("copyreg", "__newobj_ex__")
    return cls.__new__(cls, *args, **dict(kwargs))


def _safe_codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Protocol 2 stores ``bytes`` as ``_codecs.encode(text, "latin1")``; nothing else."""
    if not isinstance(obj, str) or str(encoding).replace("-", "").lower() != "latin1":
        raise UnsafeGlobalError("_codecs", "encode")
    return obj.encode("latin1")


def _safe_load_from_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes`` (storages inside a plain ``pickle.dump``).

    The real one calls an unrestricted ``torch.load`` on the embedded bytes.
    """
    return restricted_torch_load(io.BytesIO(data))


def _bounded_bytearray(budget: int | None) -> Any:
    """``bytearray``, except ``bytearray(n)`` for an n the file could not have paid for."""

    def make(*args: Any) -> bytearray:
        first = args[0] if args else b""
        if isinstance(first, int) and not isinstance(first, bool):
            limit = budget if budget is not None else 0
            if first > limit:
                raise PickleBoundError(
                    f"pickle asks for a {first:,}-byte bytearray, more than the file's "
                    f"{limit:,}-byte budget"
                )
        return bytearray(*args)

    return make


def _allowed_globals() -> dict[tuple[str, str], Any]:
    import numpy as np

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex,
        ("builtins", "object"): object,
        ("_codecs", "encode"): _safe_codecs_encode,
        ("copyreg", "_reconstructor"): _safe_reconstructor,
        ("copyreg", "__newobj__"): _safe_newobj,
        ("copyreg", "__newobj_ex__"): _safe_newobj_ex,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("torch", "Tensor"): torch.Tensor,
        ("torch._tensor", "Tensor"): torch.Tensor,
        ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
        ("torch", "UntypedStorage"): torch.UntypedStorage,
        ("torch.storage", "UntypedStorage"): torch.UntypedStorage,
        ("torch.storage", "TypedStorage"): torch.storage.TypedStorage,
        ("torch.serialization", "_get_layout"): torch.serialization._get_layout,
        ("torch.storage", "_load_from_bytes"): _safe_load_from_bytes,
        ("torch._tensor", "_rebuild_from_type_v2"): torch._tensor._rebuild_from_type_v2,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Plain values that training scripts store next to the weights (timestamps,
        # output paths). Paths become their Pure* form: no filesystem access.
        ("datetime", "datetime"): datetime,
        ("datetime", "date"): date,
        ("datetime", "time"): time,
        ("datetime", "timedelta"): timedelta,
        ("datetime", "timezone"): timezone,
        ("pathlib", "PosixPath"): pathlib.PurePosixPath,
        ("pathlib", "PurePosixPath"): pathlib.PurePosixPath,
        ("pathlib", "WindowsPath"): pathlib.PureWindowsPath,
        ("pathlib", "PureWindowsPath"): pathlib.PureWindowsPath,
    }
    for name in (
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_sparse_tensor",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_device_tensor_from_cpu_tensor",
    ):
        func = getattr(torch._utils, name, None)
        if func is not None:
            allowed[("torch._utils", name)] = func
    # numpy 1 pickles name numpy.core.multiarray, numpy 2 numpy._core.multiarray; take the
    # functions from the installed numpy's own reduce so neither path is imported by name.
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    return allowed


def _torch_value_types() -> tuple[type, ...]:
    names = ("dtype", "layout", "memory_format", "qscheme")
    return tuple(t for t in (getattr(torch, n, None) for n in names) if isinstance(t, type))


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Protocol <3 pickles say ``__builtin__.set``; the C default find_class maps it."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals are allowlisted values or inert placeholders."""

    def __init__(self, file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._file = file
        budget = _BUDGET.get()
        self._budget = budget if budget is not None else _stream_length(file)
        self._allowed = _allowed_globals()
        self._allowed[("builtins", "bytearray")] = _bounded_bytearray(self._budget)
        self._torch_values = _torch_value_types()
        self._placeholders: dict[tuple[str, str], type] = {}
        self._storage_bytes: dict[Any, int] = {}

    def load(self) -> Any:
        _prescan(self._file)
        return super().load()

    # torch assigns its persistent_load after construction; wrap it so a storage the
    # file declares is checked against the budget before torch allocates it.
    @property
    def persistent_load(self) -> Any:  # type: ignore[override]
        return pickle.Unpickler.persistent_load.__get__(self)  # type: ignore[attr-defined]

    @persistent_load.setter
    def persistent_load(self, func: Any) -> None:
        def bounded(saved_id: Any) -> Any:
            self._check_storage(saved_id)
            return func(saved_id)

        pickle.Unpickler.persistent_load.__set__(self, bounded)  # type: ignore[attr-defined]

    def _check_storage(self, saved_id: Any) -> None:
        if not (isinstance(saved_id, tuple) and len(saved_id) >= 5 and saved_id[0] == "storage"):
            return
        key, numel, kind = saved_id[2], saved_id[4], saved_id[1]
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise PickleBoundError(f"storage {key!r} declares {numel!r} elements")
        itemsize = 8  # the widest dtype, when the marker does not say
        with contextlib_suppress(Exception):
            itemsize = torch._utils._element_size(kind.dtype)
        self._storage_bytes[str(key)] = numel * max(itemsize, 1)
        total = sum(self._storage_bytes.values())
        if self._budget is not None and total > self._budget:
            raise PickleBoundError(
                f"storages declare {total:,} bytes, more than the file's {self._budget:,}-byte "
                "budget"
            )

    def find_class(self, module: str, name: str) -> Any:
        module, name = _python3_name(str(module), str(name))
        key = (module, name)
        if key in self._allowed:
            return self._allowed[key]
        if module == "torch":
            value = getattr(torch, name, None)
            if isinstance(value, self._torch_values):
                return value
        if key not in self._placeholders:
            self._placeholders[key] = _placeholder(module, name)
        return self._placeholders[key]


def load(file: IO[bytes], **kwargs: Any) -> Any:
    """``pickle.load`` with the restricted unpickler (torch's legacy reader calls this)."""
    return Unpickler(file, **kwargs).load()


def loads(data: bytes, **kwargs: Any) -> Any:
    return load(io.BytesIO(data), **kwargs)


def restricted_torch_load(source: IO[bytes]) -> Any:
    """``torch.load`` on CPU with this module as the unpickler; raises UnsafeGlobalError.

    ``source`` is a file object rather than a path so torch's filename-based dispatch
    (``.safetensors``) does not apply; pass a BytesIO for non-zip files so the legacy
    tar reader (which extracts members to disk) is never tried.
    """
    length = _stream_length(source)
    token = _BUDGET.set(None if length is None else 2 * length + _SLACK)
    try:
        return _torch_load(source)
    finally:
        _BUDGET.reset(token)


def _torch_load(source: IO[bytes]) -> Any:
    with warnings.catch_warnings():
        # Legacy pickles of whole modules make torch compare class source code, which a
        # placeholder class never has; any other warning reaches the loader's notes.
        warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
        return torch.load(
            source,
            map_location="cpu",
            pickle_module=sys.modules[__name__],
            weights_only=False,
            mmap=False,
        )
