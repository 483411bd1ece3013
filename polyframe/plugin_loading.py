"""Finds and imports plugins: every installed `polyframe.plugins` entry point.

First-party components are declared under this group in `setup.cfg` exactly
like a third-party package's, so there is one path for both. Importing an
entry point's module runs its `@REGISTRY.register(...)` decorators.
"""

import importlib.metadata
from typing import List

from absl import logging

from polyframe.errors import UserFacingError

ENTRY_POINT_GROUP = "polyframe.plugins"
_loaded: List[str] = []


def load_plugins(group: str = ENTRY_POINT_GROUP) -> List[str]:
    """Imports every entry point of `group` once; later calls do nothing.

    Args:
        group: The entry-point group to load.

    Returns:
        `"distribution: name = module"` for every entry point loaded so far.

    Raises:
        UserFacingError: if a plugin module fails to import, naming the
            distribution that declared it.
    """
    if _loaded:
        return list(_loaded)
    entry_points = sorted(
        importlib.metadata.entry_points(group=group),
        key=lambda ep: (_distribution_name(ep), ep.name))
    for entry_point in entry_points:
        distribution = _distribution_name(entry_point)
        try:
            entry_point.load()
        except Exception as error:  # A plugin's failure is the user's to fix.
            raise UserFacingError(
                f"plugin {entry_point.name!r} ({entry_point.value}) from "
                f"package {distribution!r} failed to import: "
                f"{type(error).__name__}: {error}. Reinstall or uninstall "
                f"{distribution!r}.") from error
        _loaded.append(f"{distribution}: {entry_point.name} = "
                       f"{entry_point.value}")
        logging.debug("loaded plugin %s", _loaded[-1])
    return list(_loaded)


def _distribution_name(entry_point: importlib.metadata.EntryPoint) -> str:
    distribution = getattr(entry_point, "dist", None)
    return distribution.metadata["Name"] if distribution else "?"
