"""Warnings on the way to a model are notes (Overview, report), never raw stderr.

The checkpoint used is the common "torch.save(model)" of a trusted user whose model
class has been edited since: torch's legacy loader compares the saved class source
with today's and raises SourceChangeWarning.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
import torch

from alpha_tui.checkpoint.loader import load_checkpoint
from alpha_tui.warning_notes import MAX_NOTES, folded_warnings

USER_MODULE = "alpha_tui_user_net_{}"
SOURCE = (
    "from alpha_tui.model.network import MultimodalALIGNN\n\n\n"
    "class UserNet(MultimodalALIGNN):\n    pass\n"
)
EDITED = SOURCE.replace("    pass\n", "    # edited after training\n    pass\n")


def test_folded_warnings_are_distinct_notes_and_nothing_escapes() -> None:
    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        with folded_warnings("reading x") as notes:
            warnings.warn("first\nsecond line", UserWarning, stacklevel=1)
            warnings.warn("first\nsecond line", UserWarning, stacklevel=1)
            warnings.warn("old", DeprecationWarning, stacklevel=1)
    assert outside == []
    assert notes == [
        "reading x warned: UserWarning: first",
        "reading x warned: DeprecationWarning: old",
    ]


def test_a_storm_of_warnings_is_counted() -> None:
    with folded_warnings("step") as notes:
        for i in range(MAX_NOTES + 3):
            warnings.warn(f"w{i}", stacklevel=1)
    assert len(notes) == MAX_NOTES + 1
    assert notes[-1] == "step warned 3 more distinct times"


@pytest.fixture
def edited_model_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A legacy-format torch.save of a whole UserNet, whose source then changed."""
    from adversarial.base import base_state_dict, small_config

    from alpha_tui.model.build import build_model

    name = USER_MODULE.format(tmp_path.name.replace("-", "_"))
    source = tmp_path / "code" / f"{name}.py"
    source.parent.mkdir()
    source.write_text(SOURCE)
    monkeypatch.syspath_prepend(str(source.parent))
    module = __import__(name)
    model = build_model(small_config(), base_state_dict(), backend="native").model
    model.__class__ = module.UserNet
    path = tmp_path / "model.pt"
    torch.save(model, path, _use_new_zipfile_serialization=False)
    source.write_text(EDITED)
    yield path
    sys.modules.pop(name, None)


def test_source_change_warning_is_a_checkpoint_note(edited_model_checkpoint: Path) -> None:
    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        loaded = load_checkpoint(edited_model_checkpoint, trust=True)
    assert outside == []
    [note] = [n for n in loaded.notes if "warned" in n]
    assert note.startswith("reading the checkpoint warned: SourceChangeWarning: source code")
    assert "UserNet" in note


def test_report_shows_the_warning_and_stderr_stays_empty(
    edited_model_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adversarial.base import write_dataset, write_embeddings

    from alpha_tui.cli import main

    data = write_dataset(tmp_path / "data")
    emb = write_embeddings(tmp_path / "emb.npz")
    argv = ["report", str(edited_model_checkpoint), "--data", str(data)]
    argv += ["--text-embeddings", str(emb), "--cache-dir", str(tmp_path / "cache")]
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as a user's shell: shown once on stderr
        code = main([*argv, "--backend", "native", "--trust-checkpoint", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err == ""
    notes = json.loads(out.out)["notes"]
    assert any(n.startswith("reading the checkpoint warned: SourceChangeWarning") for n in notes)
