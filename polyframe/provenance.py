"""Where a reported number comes from, so anyone can rerun it.

`metrics.json` and every `--mode=evaluate` result carry a `provenance`
block: a fingerprint of the pieces scored (SHA-256 over every split's
NoteSequences as the source read them, so the same data gives the same
hash whatever folder or cache it came through), how many pieces each split
has, the source and its data path, and the software that produced the
number: polyframe's version and git commit (when it runs from a checkout),
Python, TensorFlow and the other libraries that shape the data and the
model.
"""

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from typing import Any, Dict, Mapping, Optional, Sequence

from note_seq.protobuf import music_pb2

PACKAGES = ("tensorflow", "keras", "numpy", "note-seq", "music21",
            "gin-config", "pretty_midi")


def data_fingerprint(
        splits: Mapping[str, Sequence[music_pb2.NoteSequence]]) -> str:
    """SHA-256 of every split's pieces, split names and order included."""
    digest = hashlib.sha256()
    for split in sorted(splits):
        digest.update(f"split:{split}:{len(splits[split])}\n".encode())
        for sequence in splits[split]:
            record = sequence.SerializeToString(deterministic=True)
            digest.update(len(record).to_bytes(8, "little"))
            digest.update(record)
    return digest.hexdigest()


def describe(splits: Mapping[str, Sequence[music_pb2.NoteSequence]],
             source: Any, seed: Optional[int] = None) -> Dict[str, Any]:
    """The provenance block for numbers computed on `splits`.

    Args:
        splits: The pieces by split, as the source read them.
        source: The data source (its class and `path`, if it has one, are
            recorded).
        seed: The training seed, if the numbers come from training.
    """
    block: Dict[str, Any] = {
        "data_sha256": data_fingerprint(splits),
        "pieces": {split: len(pieces) for split, pieces in splits.items()},
        "source": type(source).__name__,
        "polyframe": _version("polyframe"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
    }
    path = getattr(source, "path", None)
    if isinstance(path, str):
        block["data_path"] = os.path.abspath(path)
    if seed is not None:
        block["seed"] = seed
    return block


def git_commit() -> Optional[str]:
    """The commit of the checkout polyframe runs from (with "+changes" if
    its files differ from it), or None outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
            text=True, timeout=10, check=True).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if changed.strip() else "")


def _version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
