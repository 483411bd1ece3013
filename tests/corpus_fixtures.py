"""The real Bach corpus, parsed once per test session into a temporary cache.

Test modules import the `bach` fixture from here. Parsing takes seconds, so
the first module that asks parses and every later one reuses the result,
even though each module registers the fixture separately.
"""

import dataclasses
import os
from typing import List, Optional

import pytest
from note_seq.protobuf import music_pb2

from polyframe.data.corpus import Corpus
from polyframe_plugins.sources.bach import BachChorales


@dataclasses.dataclass
class LoadedBach:
    """The parsed corpus and where its cache lives."""

    source: BachChorales
    corpus: Corpus

    @property
    def pieces(self) -> List[music_pb2.NoteSequence]:
        """Every kept piece, all splits."""
        return self.corpus.train + self.corpus.valid + self.corpus.test

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.source.cache_path, "manifest.json")


_loaded: Optional[LoadedBach] = None


@pytest.fixture(scope="session")
def bach(request, tmp_path_factory) -> LoadedBach:
    """The Bach chorales, loaded with a fresh cache outside the user's.

    The cache is the suite's private one when a conftest provides it (so
    command-line tests reuse it), else a temporary folder of its own.
    """
    global _loaded
    if _loaded is None:
        try:
            cache_dir = request.getfixturevalue("private_cache_dir")
        except pytest.FixtureLookupError:
            cache_dir = tmp_path_factory.mktemp("bach_cache")
        source = BachChorales(cache_dir=str(cache_dir))
        _loaded = LoadedBach(source=source, corpus=source.load())
    return _loaded
