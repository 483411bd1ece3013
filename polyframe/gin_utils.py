"""Gin at the binary: the library stays gin-free, the command line binds it.

Every registered component becomes a gin configurable named after its
registry, so `@cells.lstm` selects the LSTM and `cells.lstm.num_units = 512`
configures it. Gin's own errors about unknown names are turned into the
registry's message (available names, closest match, plugin hint).
"""

import os
import re
import tokenize
from typing import Iterable, Sequence

import gin
from absl import logging

from polyframe import fileio, registries
from polyframe.errors import UserFacingError
from polyframe.registry import Registry, closest_across

_UNKNOWN = re.compile(r"No configurable matching (?:reference )?'@?([\w.]+)'")
_exposed_registries = set()
_search_paths_added = set()


def expose_registries(all_registries: Iterable[Registry] = registries.ALL):
    """Makes every component of `all_registries` a gin configurable, now and
    whenever one registers later (e.g. from a gin file's `import`)."""
    for registry in all_registries:
        if registry.name not in _exposed_registries:
            _exposed_registries.add(registry.name)
            registry.add_listener(_expose_component)


def _expose_component(registry: Registry, name: str, component) -> None:
    gin.external_configurable(component, name=name, module=registry.name)


def expose(component, name: str) -> object:
    """Makes a core class or function configurable under `name`; returns the
    configurable version, which the binary must call to see the bindings."""
    return gin.external_configurable(component, name=name)


def parse_config(gin_files: Sequence[str], gin_params: Sequence[str]) -> None:
    """Parses gin files then bindings, turning gin's errors into one line.

    Raises:
        UserFacingError: for a missing file, a syntax error (with file:line),
            an unknown component (with the registry's suggestions) or an
            import in a gin file that fails.
    """
    for directory in _search_paths(gin_files):
        gin.add_config_file_search_path(directory)
    try:
        gin.parse_config_files_and_bindings(
            list(gin_files), list(gin_params), finalize_config=False)
    except (IOError, OSError) as error:
        raise UserFacingError(f"cannot read gin file: {error}") from None
    except SyntaxError as error:
        where = f"{error.filename}:{error.lineno}" if error.lineno else (
            error.filename or "gin bindings")
        raise UserFacingError(
            f"gin syntax error at {where}: {error.msg}; "
            f"near: {(error.text or '').strip()!r}") from None
    except tokenize.TokenError as error:
        raise UserFacingError(
            f"gin syntax error: {error.args[0]} (an unclosed bracket or "
            "string?) in one of: "
            f"{', '.join(gin_files) or 'the --gin_param bindings'}") from None
    except ImportError as error:
        raise UserFacingError(
            f"a gin file imports a module that cannot be imported: "
            f"{_first_lines(error)}") from None
    except ValueError as error:
        raise UserFacingError(_explain_value_error(error)) from None


# Names that earlier polyframe versions wrote into a run's config.gin.
_RENAMED = (
    (re.compile(r"@EventRNN\b"), "@models.event_rnn"),
    (re.compile(r"^EventRNN\.", re.MULTILINE), "models.event_rnn."),
    (re.compile(r"^SampleConfig\.num_events\b", re.MULTILINE),
     "SampleConfig.max_events"),
)


def migrate_saved_config(path: str) -> bool:
    """Rewrites a run's saved config.gin from earlier names to today's.

    The original is kept beside it as `config.gin.orig`. Returns whether
    anything changed; the change is logged in one line.
    """
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    migrated = text
    for pattern, replacement in _RENAMED:
        migrated = pattern.sub(replacement, migrated)
    if migrated == text:
        return False
    fileio.write_atomically(path + ".orig", text.encode("utf-8"))
    fileio.write_atomically(path, migrated.encode("utf-8"))
    logging.info("migrated %s to the current names (EventRNN -> "
                 "models.event_rnn, SampleConfig.num_events -> max_events); "
                 "the original is in %s.orig", path, path)
    return True


def _search_paths(gin_files: Sequence[str]) -> Sequence[str]:
    """Where `include 'NAME.gin'` looks: beside each given file, then in
    polyframe's own gin_configs/ (present in a source checkout)."""
    shipped = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "gin_configs")
    candidates = [os.path.dirname(os.path.abspath(f)) for f in gin_files]
    candidates.append(shipped)
    new = [d for d in dict.fromkeys(candidates)
           if os.path.isdir(d) and d not in _search_paths_added]
    _search_paths_added.update(new)
    return new


def _explain_value_error(error: ValueError) -> str:
    message = str(error)
    match = _UNKNOWN.search(message)
    if not match:
        return f"gin configuration error: {_first_lines(error)}"
    unknown = match.group(1)
    location = _location(message)
    by_name = {r.name: r for r in registries.ALL}
    registry_name, _, component = unknown.rpartition(".")
    if registry_name in by_name:
        return by_name[registry_name].unknown_name_message(component) + location
    guess = closest_across(list(registries.ALL), unknown)
    hint = f" Did you mean '{guess}'?" if guess else ""
    groups = ", ".join(f"@{r.name}.NAME" for r in registries.ALL)
    return (f"unknown gin configurable {unknown!r}.{hint} Components are "
            f"selected as {groups}; `python -m polyframe.main --list_plugins` "
            f"lists them all.{location}")


def _location(message: str) -> str:
    lines = [line.strip() for line in message.splitlines()[1:3]]
    return f" ({': '.join(line for line in lines if line)})" if lines else ""


def _first_lines(error: Exception) -> str:
    return " ".join(line.strip() for line in str(error).splitlines()[:3])
