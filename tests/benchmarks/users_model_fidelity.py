"""alpha-tui's network against the users' own ALIGNN, variant by variant (not a pytest test).

    DGLBACKEND=pytorch .venv-dgl/bin/python tests/benchmarks/users_model_fidelity.py \\
        [--repo /work/.mirror/Guanghui501+SAGE-2.1/repo] [--rev HEAD]

Needs the DGL lane and a clone of Guanghui501/SAGE-2.1. Their ``models/alignn.py`` is
read from that clone at run time (nothing of it is stored here): its module header
(which downloads MatSciBERT and reads vocab_mappings.txt) and its pydantic config class
are left out and replaced by stand-ins, so the text encoder is a lookup of random token
states. For each variant the same random weights are loaded into their model
(``strict=True``, so the key names must be theirs) and into alpha-tui's, once with the
config and once from the weights alone, on one batch of random crystals; the table
gives the largest relative prediction error and the largest gate difference.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from model_factory import random_batch, random_state_dict  # noqa: E402

from alpha_tui.checkpoint.config import ModelConfig  # noqa: E402
from alpha_tui.checkpoint.infer import infer_config  # noqa: E402
from alpha_tui.model.build import build_model  # noqa: E402

# Their ALIGNNConfig defaults (SAGE-2.1 models/alignn.py), for the stand-in config.
DEFAULTS = dict(
    name="alignn", alignn_layers=4, gcn_layers=4, atom_input_features=92,
    edge_input_features=80, triplet_input_features=40, embedding_features=64,
    hidden_features=256, output_features=1, graph_dropout=0.0,
    use_cross_modal_attention=True, cross_modal_hidden_dim=256, cross_modal_num_heads=4,
    cross_modal_dropout=0.1, late_fusion_type="concat", late_fusion_rank=16,
    late_fusion_output_dim=64, use_fine_grained_attention=False, fine_grained_hidden_dim=256,
    fine_grained_num_heads=8, fine_grained_dropout=0.1, fine_grained_use_projection=True,
    use_middle_fusion=False, middle_fusion_layers="2", middle_fusion_hidden_dim=128,
    middle_fusion_num_heads=2, middle_fusion_dropout=0.1, middle_fusion_use_gate_norm=False,
    middle_fusion_use_learnable_scale=False, middle_fusion_initial_scale=1.0,
    use_contrastive_loss=False, contrastive_loss_weight=0.1, contrastive_temperature=0.1,
    link="identity", zero_inflated=False, classification=False,
)  # fmt: skip

STAND_INS = '''
from types import SimpleNamespace
from typing import Tuple, Union
import dgl, dgl.function as fn, numpy as np, torch
from dgl.nn import AvgPooling
from torch import nn
from torch.nn import functional as F

class RBFExpansion(nn.Module):  # as their models/utils.py (SchNet-style gamma)
    def __init__(self, vmin=0, vmax=8, bins=40, lengthscale=None):
        super().__init__()
        self.register_buffer("centers", torch.linspace(vmin, vmax, bins))
        self.gamma = 1 / np.diff(self.centers).mean()
    def forward(self, distance):
        return torch.exp(-self.gamma * (distance.unsqueeze(1) - self.centers) ** 2)

def ALIGNNConfig(**kw):
    return SimpleNamespace(**{**DEFAULTS, **kw})

STATE = {}
def normalize(s):
    return s
class _Enc(dict):
    def to(self, dev):
        return self
def tokenizer(sents, **kw):
    idx = torch.tensor([int(s) for s in sents])
    return _Enc(input_ids=idx, attention_mask=STATE["mask"][idx].long())
def text_model(input_ids, attention_mask):
    return (STATE["tokens"][input_ids],)
device = torch.device("cpu")
'''


def load_theirs(repo: Path, rev: str):
    source = subprocess.run(
        ["git", "-C", str(repo), "show", f"{rev}:models/alignn.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    lines = source.split("\n")
    start = next(i for i, s in enumerate(lines) if s.startswith("class ProjectionHead"))
    cfg = next(i for i, s in enumerate(lines) if s.startswith("class ALIGNNConfig"))
    end = next(i for i, s in enumerate(lines) if i > cfg and s.startswith("class "))
    body = "\n".join(lines[start:cfg] + lines[end:])
    path = Path(tempfile.mkdtemp()) / "users_alignn.py"
    path.write_text(f"DEFAULTS = {DEFAULTS!r}\n{STAND_INS}\n{body}")
    spec = importlib.util.spec_from_file_location("users_alignn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dgl_graphs(batch):
    import dgl

    g = dgl.graph((batch.src, batch.dst), num_nodes=batch.num_nodes)
    g.ndata["atom_features"] = batch.atom_features
    g.edata["r"] = batch.bond_r
    g.set_batch_num_nodes(batch.batch_num_nodes)
    g.set_batch_num_edges(batch.batch_num_edges)
    lg = dgl.graph((batch.lg_src, batch.lg_dst), num_nodes=batch.num_edges)
    lg.edata["h"] = batch.angle_cos
    return g, lg


def compare(users, name: str, **fields) -> str:
    cfg = {**DEFAULTS, "hidden_features": 32, "embedding_features": 16,
           "cross_modal_hidden_dim": 32, "fine_grained_hidden_dim": 32,
           "middle_fusion_hidden_dim": 16, "use_middle_fusion": True,
           "late_fusion_rank": 4, "late_fusion_output_dim": 24, **fields}  # fmt: skip
    ours_cfg = ModelConfig.from_mapping(cfg)
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = users.ALIGNN(users.ALIGNNConfig(**cfg)).eval()
    sd = random_state_dict(ours_cfg, seed=7)
    theirs.load_state_dict(sd, strict=True)
    sizes, lengths = (3, 6, 2, 5, 1), (9, 4, 6, 2, 7)
    batch = random_batch(ours_cfg, crystal_sizes=sizes, seed=8)
    tokens = torch.tensor(np.random.default_rng(9).normal(size=(5, 9, 768)), dtype=torch.float32)
    mask = torch.arange(9)[None] < torch.tensor(lengths)[:, None]
    users.STATE.update(tokens=tokens, mask=mask)
    batch.text, batch.text_tokens, batch.text_token_mask = tokens[:, 0].clone(), tokens, mask
    seen: dict[str, torch.Tensor] = {}
    gate = "middle_fusion_modules.layer_2.gate"
    theirs.get_submodule(gate).register_forward_hook(lambda m, i, o: seen.__setitem__("t", o))
    with torch.no_grad():
        want = theirs(dgl_graphs(batch) + ([str(i) for i in range(len(sizes))],))
    cells = []
    for label, config in (("config", ours_cfg), ("weights only", infer_config(sd)[0])):
        built = build_model(config, sd, backend="dgl")
        built.model.get_submodule(gate).register_forward_hook(
            lambda m, i, o: seen.__setitem__("o", o)
        )
        with torch.no_grad():
            got = built.model(batch)
        rel = ((got - want).abs() / want.abs().clamp(min=1e-12)).max().item()
        cells.append(f"{label}: pred {rel:.1e}, gate {(seen['o'] - seen['t']).abs().max():.1e}")
    return f"{name:32s} " + " | ".join(cells)


VARIANTS: list[tuple[str, dict]] = [
    *[
        (f"{kind} cross={cross}", {"late_fusion_type": kind, "use_cross_modal_attention": cross})
        for kind in ("concat", "gated", "bilinear", "adaptive", "tucker")
        for cross in (True, False)
    ],
    ("fine-grained, projection", {"use_fine_grained_attention": True}),
    (
        "fine-grained, no projection",
        {"use_fine_grained_attention": True, "fine_grained_use_projection": False},
    ),
    ("fine-grained + gated", {"use_fine_grained_attention": True, "late_fusion_type": "gated"}),
    ("link log", {"link": "log"}),
    ("link logit", {"link": "logit"}),
    ("classification", {"classification": True}),
    ("logit+classification, tucker", {"link": "logit", "classification": True,
                                      "late_fusion_type": "tucker"}),  # fmt: skip
    ("gate norm + learnable scale", {"middle_fusion_use_gate_norm": True,
                                     "middle_fusion_use_learnable_scale": True}),  # fmt: skip
    ("hidden 64, fusion 1,2,3, out 2", {"hidden_features": 64, "middle_fusion_layers": "1,2,3",
                                        "output_features": 2}),  # fmt: skip
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mirror = Path("/work/.mirror/Guanghui501+SAGE-2.1/repo")
    parser.add_argument("--repo", type=Path, default=mirror, help="a clone of SAGE-2.1")
    parser.add_argument("--rev", default="HEAD")
    args = parser.parse_args()
    users = load_theirs(args.repo, args.rev)
    for name, fields in VARIANTS:
        print(compare(users, name, **fields))


if __name__ == "__main__":
    main()
