"""Plain-text rendering of the report for terminals, logs and issue trackers."""

from __future__ import annotations

from typing import Any


def _num(value: Any, fmt: str = ".4f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


def _dims_lines(d: dict[str, Any] | None) -> list[str]:
    if not d:
        return []
    counts, sb = d["counts"], d["scale_balance"]
    top = ", ".join(_num(v, ".3g") for v in d["top_eigenvalues"][:5])
    current = "none, i.e. 1" if sb["text_scale"] is None else _num(sb["text_scale"], ".3g")
    ratio = sb["norm_ratio"] or {}
    return [
        f"dims:     {counts['open']} always open, {counts['shut']} always shut, "
        f"{counts['varying']} varying; top eigenvalues {top}",
        f"scale:    median ||x||/||t|| {_num(ratio.get('median'), '.3g')}; text scale that "
        f"would equalise norms {_num(sb['equalising_text_scale'], '.3g')} (current: {current})",
    ]


def render_report(report: dict[str, Any], top: int = 5) -> str:
    ckpt = report["checkpoint"]
    cfg = ckpt.get("config", {})
    lines = [
        f"alpha-tui report ({report['schema']})",
        f"checkpoint  {ckpt.get('path')}  sha256 {str(ckpt.get('sha256'))[:12]}",
        f"config      from {ckpt.get('config_source')}: hidden {cfg.get('hidden_features')}, "
        f"{cfg.get('alignn_layers')} ALIGNN + {cfg.get('gcn_layers')} GCN layers, "
        f"fusion at {cfg.get('middle_fusion_layers')}, text width {cfg.get('text_input_features')}",
        f"run         device {report['device']}, backend {report['backend']}, "
        f"{report['n_crystals']} crystals, {report['n_atoms']} atoms (primitive cells)",
    ]
    data = report.get("data") or {}
    for key, label in (("text_embeddings", "text"), ("text_preprocessing", "text prep")):
        if key in data:
            lines.append(f"{label:<11} {data[key]}")
    canonize = data.get("graph_canonize")
    if canonize is not None:
        origin = "as in training" if canonize else "as the extraction scripts; training used True"
        lines.append(f"graphs      jarvis use_canonize={canonize} ({origin})")
    for sentence in report.get("assumptions", []):
        lines.append(f"ASSUMED     {sentence}")
    for note in report.get("notes", []):
        lines.append(f"note        {note}")
    problems = report.get("problems", [])
    lines.append(f"problems    {len(problems)}")
    for p in problems[:10]:
        lines.append(f"  - [{p['kind']}] {p['id']}: {p['reason']}")
    if len(problems) > 10:
        lines.append(f"  ... and {len(problems) - 10} more (see --json)")
    lines.append("")
    lines.append("verdicts")
    lines += [f"  - {v}" for v in report.get("verdicts", [])]
    for fusion, effect in (report.get("text_effect") or {}).items():
        lines += ["", f"text effect at {fusion} (delta: {effect['delta']})"]
        lines += [f"  - {c['verdict']}" for c in effect["conditions"].values()]
    for fusion, by_reduction in report["alpha"].items():
        lines += ["", f"alpha at {fusion}"]
        rows = []
        for name, s in by_reduction.items():
            rows.append(
                [
                    name,
                    str(s["count"]),
                    _num(s["mean"]),
                    _num(s["std"]),
                    _num(s["min"]),
                    _num(s["max"]),
                    _num(s["p5"]),
                    _num(s["p95"]),
                    _num(s["text_heavy_share"], ".1%"),
                    _num(s["graph_heavy_share"], ".1%"),
                ]
            )
        lines += _table(
            ["reduction", "count", "mean", "std", "min", "max", "p5", "p95", "<0.3", ">0.7"],
            rows,
        )
        c = report["collapse"][fusion]
        lines += [
            f"collapse: std across atoms per dim {_num(c['atom_std'])}, mean-reduced std "
            f"{_num(c['mean_reduced_std'])}, independent-dims expectation "
            f"{_num(c['expected_std'])}",
            f"          N_eff {_num(c['effective_dims'], '.1f')} of {c['hidden']}, participation "
            f"ratio {_num(c['participation_ratio'], '.1f')}, between-dim share of entry "
            f"variance {_num(c['between_dim_share'], '.1%')}",
            f"          {c['verdict']}",
        ]
        lines += _dims_lines(report.get("dims", {}).get(fusion))
    lines += ["", "layer flow (cosine of node features with the crystal's text, per atom)"]
    rows = []
    for r in report["layers"]:
        status = (
            r["status"]
            if r["status"] == "MATCH"
            else (f"SKIPPED({r['layer_width']}≠{r['text_width']})")
        )
        rows.append(
            [
                r["label"],
                r["text_source"],
                f"{r['layer_width']}x{r['text_width']}",
                status,
                _num(r["cos_mean"]),
                _num(r["cos_std"]),
                _num(r["null_mean"]),
                _num(r["layer_norm_mean"], ".2f"),
                _num(r["text_norm_mean"], ".2f"),
            ]
        )
    lines += _table(
        ["layer", "text source", "widths", "status", "cos", "±std", "null", "|layer|", "|text|"],
        rows,
    )
    if report["elements"]:
        els = report["elements"]
        lines += ["", f"elements under {report['reduction']} at {report['fusion']} (by mean)"]
        lows = ", ".join(f"{e['symbol']} {e['mean']:.3f} (n={e['count']})" for e in els[:top])
        highs = ", ".join(
            f"{e['symbol']} {e['mean']:.3f} (n={e['count']})" for e in reversed(els[-top:])
        )
        lines += [f"  lowest:  {lows}", f"  highest: {highs}"]
    corr = report.get("correlation")
    if corr:
        lines += [
            "",
            f"alpha vs target: Pearson r = {_num(corr['pearson_r'], '.3f')} (n={corr['n']})",
        ]
    return "\n".join(lines)
