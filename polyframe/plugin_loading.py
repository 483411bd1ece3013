"""Finds and imports plugins: every installed `polyframe.plugins` entry point.

First-party components are declared under this group in `setup.cfg` exactly
like a third-party package's, so there is one path for both. Importing an
entry point's module runs its `@REGISTRY.register(...)` decorators.

A plugin whose module fails to import is blocked, not fatal: the failure is
logged as one warning naming the package, every other plugin still loads,
and a run that selects a component the blocked plugin would have registered
is told why it is missing (see `blocked`).
"""

import importlib.metadata
from typing import List

from absl import logging

ENTRY_POINT_GROUP = "polyframe.plugins"
_loaded: List[str] = []
_blocked: List[str] = []
_searched = False


def load_plugins(group: str = ENTRY_POINT_GROUP) -> List[str]:
    """Imports every entry point of `group` once; later calls do nothing.

    Args:
        group: The entry-point group to load.

    Returns:
        `"distribution: name = module"` for every entry point loaded so far;
        the ones that failed are in `blocked()`.
    """
    global _searched
    if _searched:
        return list(_loaded)
    _searched = True
    entry_points = sorted(
        importlib.metadata.entry_points(group=group),
        key=lambda ep: (_distribution_name(ep), ep.name))
    for entry_point in entry_points:
        distribution = _distribution_name(entry_point)
        try:
            entry_point.load()
        except Exception as error:  # A plugin's failure is the user's to fix.
            _blocked.append(
                f"plugin {entry_point.name!r} ({entry_point.value}) from "
                f"package {distribution!r} failed to import "
                f"({type(error).__name__}: {error}) and is blocked; "
                f"reinstall or uninstall {distribution!r}")
            logging.warning("%s", _blocked[-1])
            continue
        _loaded.append(f"{distribution}: {entry_point.name} = "
                       f"{entry_point.value}")
        logging.debug("loaded plugin %s", _loaded[-1])
    return list(_loaded)


def blocked() -> List[str]:
    """One line per plugin that failed to import, saying why."""
    return list(_blocked)


def _distribution_name(entry_point: importlib.metadata.EntryPoint) -> str:
    distribution = getattr(entry_point, "dist", None)
    return distribution.metadata["Name"] if distribution else "?"
