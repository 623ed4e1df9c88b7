"""The settings alpha-tui had to assume, stated in words wherever numbers are shown.

Weights fix every shape, but not ``link``, ``classification``, head counts or dropouts.
When the config that holds them is missing (a checkpoint copied out of its training
folder, a bare state_dict) the defaults silently decide what the predictions mean, so
the Overview, the report and the Crystals pane list these sentences. This is the one
place that words them; torch-free so the TUI can import it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alpha_tui.checkpoint.config import ModelConfig

__all__ = [
    "DROPOUT_FIELDS",
    "UNSHAPED_FIELDS",
    "assumed_settings",
    "assumptions_in",
    "prediction_assumptions",
]

# Fields no weight shape or key name reveals.
UNSHAPED_FIELDS: tuple[str, ...] = (
    "link",
    "classification",
    "cross_modal_num_heads",
    "fine_grained_num_heads",
)
DROPOUT_FIELDS: tuple[str, ...] = (
    "graph_dropout",
    "cross_modal_dropout",
    "middle_fusion_dropout",
    "fine_grained_dropout",
)


def _why(source: str) -> str:
    if source == "inferred":
        return "no config found"
    return f"the config ({source}) does not set it"


def assumed_settings(
    config: ModelConfig, *, source: str, known: Collection[str]
) -> list[str]:
    """One sentence per setting that took a default because nothing stated it.

    ``known`` names the fields a stored config stated or the weights determined;
    ``source`` is the loader's config source ("checkpoint", "config.json", "inferred").
    """
    why = _why(source)
    said = set(known)
    out: list[str] = []
    if "link" not in said:
        effect = {"identity": "no output transform", "log": "exp of the output"}.get(
            config.link, "a sigmoid on the output"
        )
        out.append(f"predictions assume link={config.link} ({effect}): {why}")
    if "classification" not in said:
        kind = "classification (sigmoid)" if config.classification else "regression"
        out.append(f"predictions assume classification={config.classification} ({kind}): {why}")
    if config.use_fine_grained_attention and "fine_grained_num_heads" not in said:
        out.append(
            f"predictions assume fine_grained_num_heads={config.fine_grained_num_heads} "
            f"(the weights cannot tell the head count): {why}"
        )
    if config.use_cross_modal_attention and "cross_modal_num_heads" not in said:
        out.append(
            f"cross_modal_num_heads={config.cross_modal_num_heads} assumed ({why}); harmless: "
            "attention over a single text vector gives the same output for any head count"
        )
    present = {
        "graph_dropout": True,
        "cross_modal_dropout": config.use_cross_modal_attention,
        "middle_fusion_dropout": bool(config.fusion_layers),
        "fine_grained_dropout": config.use_fine_grained_attention,
    }
    # Only modules the network has: a disabled module's dropout is not even a setting.
    dropouts = [name for name in DROPOUT_FIELDS if present[name] and name not in said]
    if dropouts:
        out.append(
            f"{', '.join(dropouts)} assumed at defaults ({why}); harmless: the model runs "
            "in eval mode, where dropout does nothing"
        )
    return out


def assumptions_in(meta: Mapping[str, Any] | None) -> list[str]:
    """The sentences a run recorded (``cache.meta["checkpoint"]["assumptions"]``)."""
    checkpoint = (meta or {}).get("checkpoint") or {}
    return [str(s) for s in checkpoint.get("assumptions") or []]


def prediction_assumptions(meta: Mapping[str, Any] | None) -> list[str]:
    """Only those that change what a prediction means (shown beside predictions)."""
    return [s for s in assumptions_in(meta) if s.startswith("predictions assume")]
