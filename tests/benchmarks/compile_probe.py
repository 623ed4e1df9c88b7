"""Does torch.compile (inductor, CPU) pay on the native forward? A probe, not a figure.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/compile_probe.py VARIANT [--batch 16]

VARIANT is one of:
- ``eager``: the shipped native forward (fused conv, CSR sums);
- ``whole``: ``torch.compile(model, dynamic=True)`` on the whole network;
- ``conv_scatter``: each EdgeGatedGraphConv's arithmetic as one compiled free function
  (gathers, gate, products, the destination sum as ``index_add_`` and the residuals),
  so inductor can fuse the elementwise passes and the scatter into few loops;
- ``conv_csr``: the same in two compiled pieces around the eager CSR product.
``--mode`` picks the inductor mode. Prints one JSON line: the first pass (compile
included), the steady-state rate over every 3rd sample crystal, its share of the
matmul roof, dynamo's counters (graphs, breaks, recompiles) and, against eager, the
largest difference of every array ``capture()`` keeps and of the raw layer features.
Set TORCHINDUCTOR_CACHE_DIR to a fresh folder for a cold compile, reuse it for warm.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from types import MethodType

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402, F401  (puts the repository root on sys.path)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from flops import BatchSize, linear_flops, matmul_peak  # noqa: E402
from sample_inputs import batch_counts, load_sample, native_batches  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from alpha_tui.capture.hooks import HookNames, find_layers, first_tensor  # noqa: E402
from alpha_tui.capture.run import CaptureInput, capture  # noqa: E402
from alpha_tui.model.backends.native import NativeGraph  # noqa: E402
from alpha_tui.model.build import build_model  # noqa: E402
from alpha_tui.model.layers import EdgeGatedGraphConv  # noqa: E402


def _bn(v, mean, var, weight, bias):
    return F.batch_norm(v, mean, var, weight, bias, False, 0.0, 1e-5)


def conv_params(conv) -> tuple[torch.Tensor, ...]:
    """The conv's tensors, passed as inputs so one compiled graph serves all twelve convs."""
    assert conv.bn_nodes.eps == conv.bn_edges.eps == 1e-5
    bns = [
        t
        for bn in (conv.bn_nodes, conv.bn_edges)
        for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias)
    ]
    return (
        conv.src_gate.weight, conv.src_gate.bias, conv.dst_gate.weight, conv.dst_gate.bias,
        conv.edge_gate.weight, conv.edge_gate.bias, conv.src_update.weight,
        conv.src_update.bias, conv.dst_update.weight, conv.dst_update.bias, *bns,
    )  # fmt: skip


def conv_messages(p, src, dst, x, y):
    sg_w, sg_b, dg_w, dg_b, eg_w, eg_b, su_w, su_b, du_w, du_b = p[:10]
    width = sg_w.shape[0]
    src_nodes = F.linear(x, torch.cat([sg_w, du_w]), torch.cat([sg_b + eg_b, du_b]))
    own = F.linear(x, torch.cat([dg_w, su_w]), torch.cat([dg_b, su_b]))
    terms = src_nodes.index_select(0, src)
    gate_in = own[:, :width].index_select(0, dst) + terms[:, :width]
    m = torch.addmm(gate_in, y, eg_w.t())
    sigma = torch.sigmoid(m)
    return own, m, torch.cat([terms[:, width:] * sigma, sigma], dim=1)


def conv_update(p, x, y, own, m, sums):
    width = p[0].shape[0]
    h = sums[:, :width] / (sums[:, width:] + 1e-6)
    x_new = x + F.silu(_bn(own[:, width:] + h, *p[10:14]))
    y_new = y + F.silu(_bn(m, *p[14:18]))
    return x_new, y_new


def conv_whole(p, src, dst, x, y):
    own, m, messages = conv_messages(p, src, dst, x, y)
    sums = messages.new_zeros((x.shape[0], messages.shape[1])).index_add_(0, dst, messages)
    return conv_update(p, x, y, own, m, sums)


def install(model, variant: str, mode: str) -> torch.nn.Module:
    """The model to call: compiled whole, or with every conv's forward replaced."""
    if variant == "eager":
        return model
    if variant == "whole":
        model.compile(dynamic=True, mode=mode)  # in place: module names stay the same
        return model
    options = dict(dynamic=True, mode=mode)
    whole = torch.compile(conv_whole, **options)
    messages = torch.compile(conv_messages, **options)
    update = torch.compile(conv_update, **options)

    def forward(self, g, x, y):
        assert isinstance(g, NativeGraph) and not self.training
        p = conv_params(self)
        if variant == "conv_scatter":
            return whole(p, g.src, g.dst, x, y)
        own, m, msg = messages(p, g.src, g.dst, x, y)
        return update(p, x, y, own, m, g.sum_to_dst(msg))

    for module in model.modules():
        if isinstance(module, EdgeGatedGraphConv):
            module.forward = MethodType(forward, module)
    return model


def raw_outputs(model, call, batches) -> dict[str, np.ndarray]:
    """Predictions, every layer's node features and every gate, concatenated over batches."""
    names = find_layers(model, HookNames())
    names += [n for n, _ in model.named_modules() if n.endswith(".gate")]
    seen: dict[str, list[np.ndarray]] = {n: [] for n in [*names, "prediction"]}
    handles = []
    for name in names:

        def hook(_m, _a, out, name=name):
            seen[name].append(first_tensor(out).detach().numpy().copy())

        handles.append(model.get_submodule(name).register_forward_hook(hook))
    with torch.no_grad():
        for batch in batches:
            seen["prediction"].append(call(batch).numpy().copy())
    for handle in handles:
        handle.remove()
    return {k: np.concatenate(v) for k, v in seen.items()}


def cache_arrays(cache) -> dict[str, np.ndarray]:
    out = {"predictions": cache.predictions}
    out.update({f"gate {k}": v for k, v in cache.gates.items()})
    out.update({f"norm {k}": v for k, v in cache.layer_norms.items()})
    out.update({f"fusion_norm {k}": v for k, v in cache.fusion_input_norm.items()})
    out.update({f"ln_change {k}": v for k, v in cache.fusion_ln_change.items()})
    for key, flow in cache.flows.items():
        if flow.cos is not None:
            out[f"cos {key}"] = flow.cos
            out[f"null {key}"] = flow.null_cos
    return out


def differences(ours: dict, ref: dict) -> dict[str, float]:
    """Worst over arrays of: max |a - b|, max |a - b| / max |b| (per array), and
    elementwise |a - b| / |b| over entries with |b| >= 1e-3 * max |b|."""
    worst_abs = worst_scaled = worst_rel = 0.0
    where = ""
    for key, b in ref.items():
        a = np.asarray(ours[key], np.float64)
        b = np.asarray(b, np.float64)
        diff = np.abs(a - b)
        scale = float(np.abs(b).max()) or 1.0
        big = np.abs(b) >= 1e-3 * scale
        rel = float((diff[big] / np.abs(b[big])).max()) if big.any() else 0.0
        worst_abs = max(worst_abs, float(diff.max()))
        if float(diff.max()) / scale > worst_scaled:
            worst_scaled, where = float(diff.max()) / scale, key
        worst_rel = max(worst_rel, rel)
    return {"max_abs": worst_abs, "max_scaled": worst_scaled, "max_rel": worst_rel, "worst": where}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=("eager", "whole", "conv_scatter", "conv_csr"))
    parser.add_argument("--mode", default="default")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--stride", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--capture-repeat", type=int, default=3)
    args = parser.parse_args()
    sample = load_sample().every(args.stride)
    loaded = sample.loaded
    reference = build_model(loaded.config, loaded.state_dict, backend="native").model.eval()
    model = build_model(loaded.config, loaded.state_dict, backend="native").model.eval()
    batches = native_batches(sample, args.batch)
    counts = [batch_counts(b) for b in batches]
    flops = sum(linear_flops(model, BatchSize(*c)) for c in counts)
    call = install(model, args.variant, args.mode)

    def forward() -> None:
        with torch.no_grad():
            for batch in batches:
                call(batch)

    torch._dynamo.utils.counters.clear()
    first = harness.time_once(forward)
    compiled_counters = {k: dict(v) for k, v in torch._dynamo.utils.counters.items()}
    def eager_forward() -> None:
        with torch.no_grad():
            for batch in batches:
                reference(batch)

    times, eager_times = harness.alternate(forward, eager_forward, repeat=args.repeat, warmup=0)
    rows = [max(c[2] for c in counts), *sorted({c[3] for c in counts})[-3:]]
    peak = statistics.median(matmul_peak(rows, loaded.config.hidden_features, 3))
    steady = statistics.median(times)
    raw = differences(raw_outputs(model, call, batches), raw_outputs(reference, reference, batches))
    data = CaptureInput(sample.ids, sample.formulas, sample.targets, sample.graphs, sample.text)
    caches = {}

    def run(side, net):
        return lambda: caches.__setitem__(side, capture(net, data, batch_size=args.batch))

    t_eager, t_compiled = harness.alternate(
        run("eager", reference), run("compiled", call), repeat=args.capture_repeat, warmup=0
    )
    capture_times = {
        "eager": statistics.median(t_eager),
        "compiled": statistics.median(t_compiled),
        "speedup": statistics.median(harness.ratios(t_eager, t_compiled)),
    }
    captured = differences(cache_arrays(caches["compiled"]), cache_arrays(caches["eager"]))
    counters = {k: dict(v) for k, v in torch._dynamo.utils.counters.items()}
    result = {
        "variant": args.variant,
        "mode": args.mode,
        "batch": args.batch,
        "crystals": len(sample.ids),
        "threads": torch.get_num_threads(),
        "first_pass_s": round(first, 3),
        "steady_s": round(steady, 4),
        "eager_s": round(statistics.median(eager_times), 4),
        "speedup_vs_eager": round(statistics.median(harness.ratios(eager_times, times)), 3),
        "crystals_per_s": round(len(sample.ids) / steady, 2),
        "peak_fraction": round(flops / steady / 1e9 / peak, 4),
        "matmul_peak_gflops": round(peak, 1),
        "capture_s": {k: round(v, 3) for k, v in capture_times.items()},
        "raw_diff": raw,
        "capture_diff": captured,
        "counters_first_pass": compiled_counters,
        "counters_end": counters,
    }
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
