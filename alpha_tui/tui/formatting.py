"""Number and label formatting shared by every pane, the exports and the tests.

One function per kind of number so the value a test computes with the analysis
engine can be formatted exactly as the screen shows it.
"""

from __future__ import annotations

import math

SHADES = " ▁▂▃▄▅▆▇█"
MISSING = "—"


def fmt(value: float | None, digits: int = 4) -> str:
    """A statistic (alpha, cosine, norm); "—" for missing or non-finite."""
    if value is None:
        return MISSING
    value = float(value)
    if not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}f}"


def fmt_share(value: float | None) -> str:
    if value is None or not math.isfinite(float(value)):
        return MISSING
    return f"{100.0 * float(value):.1f}%"


def fmt_count(value: int | None) -> str:
    return MISSING if value is None else f"{int(value):,}"


def fmt_pm(mean: float | None, std: float | None, digits: int = 3) -> str:
    if mean is None:
        return MISSING
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}"


def shade(value: float, lo: float, hi: float) -> str:
    """A block character whose height carries the value, so a heat map still reads
    without colour (monochrome terminals, colour-blind users, text exports)."""
    if not math.isfinite(value):
        return "?"
    if hi <= lo:
        return SHADES[len(SHADES) // 2]
    frac = min(1.0, max(0.0, (value - lo) / (hi - lo)))
    return SHADES[1 + round(frac * (len(SHADES) - 2))]


def reduction_label(name: str, hidden: int) -> str:
    """Short phrase for a panel title: what one alpha value per atom is made of."""
    kind, _, param = name.partition(":")
    if kind in ("mean", "max", "min", "median", "std"):
        return f"{kind} over {hidden} gate dims"
    if kind == "dim":
        return f"gate dim {param} of {hidden}"
    if kind == "quantile":
        return f"{param}-quantile over {hidden} gate dims"
    if kind == "open-fraction":
        return f"open fraction of {hidden} gate dims"
    if kind == "topk-mean":
        return f"mean of top {param} of {hidden} gate dims"
    if kind == "pc1":
        return f"PC1 score of {hidden} gate dims"
    if kind == "injection":
        return "injection ‖α·t‖/‖x‖"
    if kind == "weighted":
        return f"weighted mean over {hidden} gate dims ({param.rsplit('/', 1)[-1]})"
    return name


def short_fusion(name: str) -> str:
    """ "middle_fusion_modules.layer_2" -> "layer_2" for tight spaces."""
    return name.rsplit(".", 1)[-1]


def safe_token(text: str) -> str:
    """A file-name-safe token: reductions like "weighted:/a/b.npy" or "quantile:0.9"."""
    if text.startswith("weighted:"):
        text = "weighted-" + text.split(":", 1)[1].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    out = []
    for ch in text:
        out.append(ch if ch.isalnum() or ch in "-_." else "-")
    token = "".join(out).strip("-.")
    return token or "x"
