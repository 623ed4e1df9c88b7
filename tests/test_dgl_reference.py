"""DGL lane: the benchmark's DGL reference of the users' forward is faithful to alpha-tui.

fig_forward.py times alpha-tui against ``tests/benchmarks/dgl_reference.py``; that
comparison only means something if the reference computes the users' numbers. Here it
must give alpha-tui's predictions and full gates on 32 sample crystals for both
bundled checkpoints, load their weights strictly, and batch the line graph that
``dgl.line_graph`` (the users' ``g.line_graph(shared=True)``) builds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.dgl
os.environ.setdefault("DGLBACKEND", "pytorch")
dgl = pytest.importorskip("dgl")

BENCH = Path(__file__).resolve().parent / "benchmarks"
sys.path.insert(0, str(BENCH))

from dgl_reference import crystal_dgl_graphs, load_reference  # noqa: E402
from reference_check import RTOL, compare  # noqa: E402
from sample_inputs import SAMPLE, load_sample  # noqa: E402

CHECKPOINTS = [SAMPLE, SAMPLE.with_name("gap_fusion23_diverse.pt")]


@pytest.fixture(scope="module", params=CHECKPOINTS, ids=lambda p: p.stem)
def sample(request):
    return load_sample(request.param, limit=32)


def test_reference_matches_native_predictions_and_gates(sample) -> None:
    found = compare(sample, batch_size=16)
    assert found.crystals == 32
    n_fusion = len(sample.loaded.config.fusion_layers)
    atoms = sum(g.num_nodes for g in sample.graphs)
    assert found.gates_compared == n_fusion * atoms * sample.loaded.config.hidden_features
    assert found.gate_abs <= RTOL, found
    assert found.pred_range_rel <= RTOL, found
    assert found.ok


def test_reference_loads_strictly(sample) -> None:
    sd = dict(sample.loaded.state_dict)
    sd.pop("gcn_layers.0.bn_nodes.running_var")
    with pytest.raises(RuntimeError, match="Missing key"):
        load_reference(sd)
    sd = {**sample.loaded.state_dict, "gcn_layers.0.extra": sd["fc.bias"]}
    with pytest.raises(RuntimeError, match="Unexpected key"):
        load_reference(sd)


def test_reference_line_graph_is_dgls(sample) -> None:
    for graph in sample.graphs[:8]:
        g, lg = crystal_dgl_graphs(graph)
        theirs = dgl.line_graph(g, backtracking=True)
        pairs = {tuple(p) for p in np.stack([t.numpy() for t in theirs.edges()], 1).tolist()}
        ours = {tuple(p) for p in np.stack([t.numpy() for t in lg.edges()], 1).tolist()}
        assert len(pairs) == theirs.num_edges() and ours == pairs
