"""alpha-tui's native forward against the DGL reference on the same crystals.

Used by fig_forward.py before timing (all 455 sample crystals) and by
tests/test_dgl_reference.py (a slice of them). Every fusion gate [N_atoms, H] must
agree to ``RTOL`` (gates lie in (0, 1), so absolutely). Predictions must agree to
``RTOL`` relative to the largest |prediction| of the set: per-crystal relative error
is also reported but not required, because band gaps near 0 (metals, 3e-4 eV in the
sample) turn float32 summation-order noise (~1e-6 eV absolute) into 1e-4 relative.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from dgl_reference import dgl_batch, load_reference
from sample_inputs import SampleInputs, gate_hooks, native_batches, windows

from alpha_tui.model.build import build_model

RTOL = 1e-5


@dataclass(frozen=True)
class Agreement:
    crystals: int
    pred_rel: float  # largest |native - dgl| / |dgl| over crystals (reported only)
    pred_abs: float  # largest |native - dgl|
    pred_range_rel: float  # pred_abs / largest |dgl|
    gate_abs: float  # largest |native - dgl| over every gate entry
    gates_compared: int  # gate entries compared

    @property
    def ok(self) -> bool:
        return self.pred_range_rel <= RTOL and self.gate_abs <= RTOL and self.gates_compared > 0


def model_pair(loaded) -> tuple[torch.nn.Module, torch.nn.Module]:
    """alpha-tui's native model and the DGL reference, from the same checkpoint."""
    native = build_model(loaded.config, loaded.state_dict, backend="native").model
    reference = load_reference(
        loaded.state_dict,
        cross_heads=loaded.config.cross_modal_num_heads,
        link=loaded.config.link,
        classification=loaded.config.classification,
    )
    return native, reference


def compare(sample: SampleInputs, batch_size: int = 64) -> Agreement:
    native, reference = model_pair(sample.loaded)
    gates = [f"middle_fusion_modules.layer_{k}.gate" for k in reference.fusion_indices]
    seen_native: dict[str, list[torch.Tensor]] = {}
    seen_ref: dict[str, list[torch.Tensor]] = {}
    handles = gate_hooks(native, gates, seen_native) + gate_hooks(reference, gates, seen_ref)
    pred_n, pred_r = [], []
    try:
        with torch.no_grad():
            for batch, w in zip(
                native_batches(sample, batch_size),
                windows(len(sample.ids), batch_size),
                strict=True,
            ):
                pred_n.append(native(batch).reshape(-1))
                g, lg = dgl_batch(sample.graphs[w])
                pred_r.append(reference(g, lg, torch.from_numpy(sample.text[w])).reshape(-1))
    finally:
        for handle in handles:
            handle.remove()
    got, want = torch.cat(pred_n), torch.cat(pred_r)
    diff = (got - want).abs()
    rel = (diff / want.abs().clamp(min=1e-12)).max().item()
    range_rel = diff.max().item() / max(want.abs().max().item(), 1e-12)
    gate_abs, compared = 0.0, 0
    for name in gates:
        a, b = torch.cat(seen_native[name]), torch.cat(seen_ref[name])
        assert a.shape == b.shape, f"{name}: native {list(a.shape)} vs reference {list(b.shape)}"
        gate_abs = max(gate_abs, (a - b).abs().max().item())
        compared += a.numel()
    return Agreement(len(sample.ids), rel, diff.max().item(), range_rel, gate_abs, compared)
