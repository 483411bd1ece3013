"""Suite-wide set-up: a private corpus cache, and the repository root."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory):
    """Keeps the tests' corpus cache out of the user's cache directory.

    Subprocesses inherit it, so the corpus is parsed once per test session.
    """
    path = tmp_path_factory.mktemp("polyframe_cache")
    previous = os.environ.get("POLYFRAME_CACHE_DIR")
    os.environ["POLYFRAME_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("POLYFRAME_CACHE_DIR", None)
    else:
        os.environ["POLYFRAME_CACHE_DIR"] = previous
