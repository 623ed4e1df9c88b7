"""Finding the modules to watch by structure, and hooks that always come off.

The users' checkpoints come from several forks of the same network, so hooks are
placed by shape of the module tree rather than by class identity: a fusion module
is any module with both a ``gate`` and a ``text_transform`` child, a layer is any
direct child of ``alignn_layers`` / ``gcn_layers``. Names are state_dict paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from alpha_tui.errors import UserError


@dataclass(frozen=True)
class HookNames:
    """Where to look; overridable for models that name things differently."""

    layer_containers: tuple[str, ...] = ("alignn_layers", "gcn_layers")
    text_projection: str = "text_projection"
    gate_child: str = "gate"
    text_transform_child: str = "text_transform"


def find_fusion_modules(model: nn.Module, names: HookNames) -> list[str]:
    found = []
    for name, module in model.named_modules():
        children = dict(module.named_children())
        if names.gate_child in children and names.text_transform_child in children:
            found.append(name)
    return found


def find_layers(model: nn.Module, names: HookNames) -> list[str]:
    modules = dict(model.named_modules())
    layers: list[str] = []
    for container in names.layer_containers:
        parent = modules.get(container)
        if parent is None:
            continue
        layers.extend(f"{container}.{child}" for child, _ in parent.named_children())
    return layers


def get_module(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError as exc:
        raise UserError(
            f"the model has no module named {name!r}; check the --*-name overrides"
        ) from exc


def first_tensor(output: object) -> torch.Tensor:
    """Layers return (x, y[, z]); node features are always the first element."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find node features in a {type(output).__name__} output")


ForwardHook = Callable[[nn.Module, tuple, object], None]


@contextmanager
def hooks_attached(model: nn.Module, hooks: dict[str, ForwardHook]) -> Iterator[None]:
    """Attach forward hooks by module name; they are removed even when the pass fails."""
    handles = []
    try:
        for name, hook in hooks.items():
            handles.append(get_module(model, name).register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()
