"""Loading never runs code from the file unless the user says they trust it.

Each payload would create ``marker`` if it ran. The same files are also loaded with
``trust=True`` where that is harmless, to prove the payloads are real (a test that a
file is *not* written is only meaningful if the file would otherwise be written).
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from checkpoint_factory import NetSpec, make_state_dict, save_with_foreign_config

from alpha_tui.checkpoint import safe_unpickle
from alpha_tui.checkpoint.loader import load_checkpoint
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

SPEC = NetSpec(hidden=8, alignn_layers=1, gcn_layers=1, fusion_layers=(0,), fusion_hidden=4)
SYSTEM = f"{os.system.__module__}.system"  # posix.system on Linux


class ShellPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class ExecPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


class PopenPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (subprocess.Popen, (["touch", str(self.marker)],))


def _checkpoint(payload: Any) -> dict[str, Any]:
    return {"model": make_state_dict(SPEC), "epoch": 1, "hook": payload}


def _write(path: Path, obj: Any, how: str) -> Path:
    if how == "zip":
        torch.save(obj, path)
    elif how == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    elif how == "pickle2":
        path.write_bytes(pickle.dumps(obj, protocol=2))
    else:
        path.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    return path


FORMATS = ["zip", "legacy", "pickle2", "pickle5"]
PAYLOADS = [
    (ShellPayload, SYSTEM),
    (ExecPayload, "builtins.exec"),
    (PopenPayload, "subprocess.Popen"),
]


@pytest.mark.parametrize("how", FORMATS)
@pytest.mark.parametrize(("payload", "qualified"), PAYLOADS, ids=["system", "exec", "popen"])
def test_calls_are_refused_and_nothing_runs(
    tmp_path: Path, how: str, payload: type, qualified: str
) -> None:
    marker = tmp_path / "marker"
    path = _write(tmp_path / "checkpoint.pt", _checkpoint(payload(marker)), how)
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    assert not marker.exists()
    assert str(err.value) == (
        f"checkpoint.pt wants to call {qualified} while unpickling; refusing. "
        "If you trust this file, rerun with --trust-checkpoint"
    )


@pytest.mark.parametrize("how", ["zip", "legacy"])
def test_the_same_file_does_run_code_when_trusted(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "marker"
    path = _write(tmp_path / "checkpoint.pt", _checkpoint(ExecPayload(marker)), how)
    with pytest.raises(UserError):
        load_checkpoint(path)
    assert not marker.exists()
    loaded = load_checkpoint(path, trust=True)
    assert marker.read_text() == "ran"
    assert loaded.config.hidden_features == SPEC.hidden


def test_payload_inside_the_foreign_config_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    fields = {**SPEC.config_fields(), "callback": ExecPayload(marker)}
    path = save_with_foreign_config(
        tmp_path / "c.pt", {"model": make_state_dict(SPEC)}, fields, kind="plain"
    )
    with pytest.raises(UserError, match="wants to call builtins.exec"):
        load_checkpoint(path)
    assert not marker.exists()


def test_payload_hidden_in_embedded_storage_bytes_is_refused(tmp_path: Path) -> None:
    """Plain pickles carry storages as bytes for torch.storage._load_from_bytes, which
    calls an unrestricted torch.load on them; the stand-in must stay restricted."""
    marker = tmp_path / "marker"
    inner = io.BytesIO()
    torch.save(ExecPayload(marker), inner, _use_new_zipfile_serialization=False)

    class Nested:
        def __reduce__(self) -> tuple[Any, ...]:
            return (torch.storage._load_from_bytes, (inner.getvalue(),))

    path = tmp_path / "c.pkl"
    path.write_bytes(pickle.dumps({"model": make_state_dict(SPEC), "x": Nested()}))
    with pytest.raises(UserError, match="wants to call builtins.exec"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_is_refused(tmp_path: Path) -> None:
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "s.pt")
    with pytest.raises(UserError, match="TorchScript archive.*--trust-checkpoint"):
        load_checkpoint(tmp_path / "s.pt")


def test_protocol0_pickle_never_reaches_the_unpickler(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "c.pt"
    path.write_bytes(pickle.dumps(_checkpoint(ShellPayload(marker)), protocol=0))
    with pytest.raises(UserError):
        load_checkpoint(path)
    assert not marker.exists()


# --- the restricted unpickler itself ---------------------------------------------------------


def _raw_pickle(*ops: bytes) -> bytes:
    return b"\x80\x02" + b"".join(ops) + b"."


def test_copyreg_reconstructor_only_builds_foreign_records() -> None:
    # copyreg._reconstructor(builtins.bytearray, object, None) is refused; a foreign class
    # through the same helper becomes a record.
    evil = _raw_pickle(
        b"ccopyreg\n_reconstructor\n",
        b"(cbuiltins\nbytearray\ncbuiltins\nobject\nNtR",
    )
    with pytest.raises(safe_unpickle.UnsafeGlobalError, match="copyreg._reconstructor"):
        safe_unpickle.loads(evil)
    fine = _raw_pickle(
        b"ccopyreg\n_reconstructor\n",
        b"(cmodels.alignn\nCfg\ncbuiltins\nobject\nNtR",
        b"}X\x01\x00\x00\x00aK\x05sb",
    )
    record = safe_unpickle.loads(fine)
    assert isinstance(record, safe_unpickle.ForeignObject)
    assert record.qualified_name == "models.alignn.Cfg" and record.fields() == {"a": 5}


def test_codecs_encode_is_limited_to_latin1_bytes() -> None:
    assert safe_unpickle.loads(pickle.dumps(b"\x00\xffab", protocol=2)) == b"\x00\xffab"
    evil = _raw_pickle(b"c_codecs\nencode\n", b"(X\x01\x00\x00\x00aX\x05\x00\x00\x00rot13tR")
    with pytest.raises(safe_unpickle.UnsafeGlobalError, match="_codecs.encode"):
        safe_unpickle.loads(evil)


def test_inst_opcode_with_arguments_is_refused() -> None:
    # Protocol-0 INST calls the class with its arguments, like REDUCE.
    evil = b"(S'touch /nonexistent/x'\nios\nsystem\n."
    with pytest.raises(safe_unpickle.UnsafeGlobalError, match="os.system"):
        safe_unpickle.loads(evil)


def test_records_cannot_grow_instance_attributes() -> None:
    # No __dict__: a BUILD cannot plant an attribute that shadows __setstate__.
    record = safe_unpickle.loads(_raw_pickle(b"cmodels.alignn\nCfg\n)\x81"))
    assert not hasattr(record, "__dict__")
    with pytest.raises(AttributeError):
        record.__setstate__ = print  # type: ignore[method-assign]


def test_dict_and_list_subclasses_keep_their_items() -> None:
    data = _raw_pickle(
        b"cmodels.cfg\nEasyDict\n)\x81",
        b"(X\x0f\x00\x00\x00hidden_featuresK\x10u",
        b"}X\x04\x00\x00\x00noteX\x01\x00\x00\x00xsb",
    )
    record = safe_unpickle.loads(data)
    assert record.fields() == {"hidden_features": 16, "note": "x"}
    listed = safe_unpickle.loads(_raw_pickle(b"cmodels.cfg\nLayers\n)\x81(K\x01K\x02e"))
    assert listed.list_items == [1, 2]


def test_pydantic_state_is_flattened() -> None:
    record = safe_unpickle.loads(
        _raw_pickle(
            b"cmodels.alignn\nALIGNNConfig\n)\x81}(",
            b"X\x08\x00\x00\x00__dict__}X\x01\x00\x00\x00aK\x01s",
            b"X\x12\x00\x00\x00__pydantic_extra__}X\x01\x00\x00\x00bK\x02s",
            b"ub",
        )
    )
    assert record.fields() == {"a": 1, "b": 2}
