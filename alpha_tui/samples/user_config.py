"""A stand-in for the users' ``models.alignn.ALIGNNConfig`` when saving sample checkpoints.

Users pickle their pydantic config class from a module that does not exist where the
checkpoint is inspected. The sample checkpoints are saved the same way so the bundled
default exercises the safe loader's inert-record path; the module is registered in
``sys.modules`` only while saving.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

USER_MODULE = "models.alignn"


class ALIGNNConfig:
    """Plain attribute bag, pickled by reference to ``models.alignn.ALIGNNConfig``."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


@contextmanager
def users_config_module() -> Iterator[type]:
    package = types.ModuleType("models")
    module = types.ModuleType(USER_MODULE)
    saved = {name: sys.modules.get(name) for name in ("models", USER_MODULE)}
    cls = type("ALIGNNConfig", (ALIGNNConfig,), {"__module__": USER_MODULE})
    module.ALIGNNConfig = cls
    package.alignn = module
    sys.modules["models"] = package
    sys.modules[USER_MODULE] = module
    try:
        yield cls
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
