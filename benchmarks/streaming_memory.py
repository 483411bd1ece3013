r"""Peak memory of training on a large MIDI folder, against the corpus's size.

    python benchmarks/streaming_memory.py [--sizes=1000,10000] \
        [--notes_per_voice=500] [--corpus_dir=/tmp/polyframe-bench-midi] \
        [--keep] [--polyframe_path=/another/checkout]

For every size, a folder of that many generated four-voice MIDI files
(`midi_corpus.py`; 4 voices x `notes_per_voice` notes, 2,000 by default, a
file) is written once under `--corpus_dir` and kept for later runs. Then the
real command line trains the smoke model (`duration_rnn.gin` + `smoke.gin` +
`sources/midi_dir.gin`) for exactly one whole epoch on it (`max_steps` and
the 13-minute limit lifted), with `--mode=train`: ingestion into a fresh,
empty cache (`POLYFRAME_CACHE_DIR`), encoding, the epoch, then the final
valid and test evaluation and musical statistics; no samples, no previews.
While it runs, every 0.1 s, the resident memory (VmRSS) of its whole process
tree (the main process and its parsing workers, summed at each instant) and
the main process's own high-water mark (VmHWM) are read from /proc. The
main process's peak is also checked against `wait4`'s `ru_maxrss` (the
largest of the process and the workers it waited for).

Then, in a fresh process, the pieces the run cached are read back and kept
in a list, all of them, and encoded with the config's encoder (its defaults,
fitted on them) into a list of event arrays; the growth of that process's
RSS gives the corpus's in-memory size: NoteSequences plus event arrays, what
an implementation that holds the whole corpus in memory holds at least once.

Why: a pipeline that streams the corpus holds a bounded part of it at a
time, so its peak grows far less than the corpus does. The figure printed
last is (peak[largest] - peak[smallest]) / corpus in memory[largest], for
the main process and for the tree; a streaming pipeline keeps it below
0.20, one that holds the corpus (or several copies of it) is near or above
1. A tree's summed RSS counts pages the processes share (libraries) once per
process, so it overstates what the machine needs; the difference between
two sizes is what matters.

`--polyframe_path` measures another checkout (e.g. a `git worktree` of an
older commit, with a `polyframe_plugins` link to its `plugins`): it is put
first on the children's PYTHONPATH, they run with `python -P` (so the
current folder does not shadow it) and read its gin configs; the paths they
import from are printed first. Sizes run one after the other; other load on
the machine slows the runs but hardly changes the memory.
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

# The benchmark is run as a script: its folder is on sys.path.
import midi_corpus

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1e6
POLL_S = 0.1
GIN_FILES = ("duration_rnn.gin", "smoke.gin", os.path.join("sources",
                                                           "midi_dir.gin"))
# Marks the measuring process's result line on its stdout.
RESULT = "RESULT "


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000",
                        help="comma-separated numbers of files, one run each")
    parser.add_argument("--notes_per_voice", type=int, default=500,
                        help="notes in each of the 4 voices of every file")
    parser.add_argument("--corpus_dir", default="/tmp/polyframe-bench-midi",
                        help="where generated corpora are kept for reuse")
    parser.add_argument("--keep", action="store_true",
                        help="keep the caches, model dirs and logs")
    parser.add_argument("--polyframe_path", default=None,
                        help="a checkout to measure instead of the installed "
                        "polyframe (prepended to the children's PYTHONPATH)")
    parser.add_argument("--measure_corpus", default=None,
                        help=argparse.SUPPRESS)  # Internal: a cache dir.
    parser.add_argument("--encoder_config", default=None,
                        help=argparse.SUPPRESS)  # Internal: a gin file.
    return parser.parse_args(argv)


# --- /proc ------------------------------------------------------------------

def _status_kb(pid: int, fields: Tuple[str, ...]) -> Dict[str, int]:
    """The `fields` of /proc/<pid>/status in kB; empty once it has exited."""
    values = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as file:
            for line in file:
                name, _, rest = line.partition(b":")
                name = name.decode()
                if name in fields:
                    values[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return values


def _children() -> Dict[int, List[int]]:
    """Every process's children, from the parent pid in /proc/*/stat."""
    children = collections.defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as file:
                stat = file.read()
        except OSError:
            continue
        # The command name, in parentheses, may hold spaces and parentheses.
        fields = stat[stat.rindex(b")") + 2:].split()
        children[int(fields[1])].append(int(entry.name))
    return children


def _tree(root: int) -> List[int]:
    children = _children()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def rss_bytes() -> int:
    """This process's resident memory."""
    return _status_kb(os.getpid(), ("VmRSS",)).get("VmRSS", 0) * 1024


# --- The training run ---------------------------------------------------------

def child_env(cache_dir: Optional[str], polyframe_path: Optional[str]
              ) -> Dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if cache_dir:
        env["POLYFRAME_CACHE_DIR"] = cache_dir
    if polyframe_path:
        env["PYTHONPATH"] = os.pathsep.join(
            [polyframe_path] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def python(polyframe_path: Optional[str]) -> List[str]:
    # -P: neither the current folder nor a script's folder goes first on
    # sys.path, so PYTHONPATH decides where polyframe comes from.
    return [sys.executable, "-P"] if polyframe_path else [sys.executable]


def gin_dir(polyframe_path: Optional[str]) -> str:
    if polyframe_path and os.path.isdir(os.path.join(polyframe_path,
                                                     "gin_configs")):
        return os.path.join(polyframe_path, "gin_configs")
    return os.path.join(REPO, "gin_configs")


def train_command(polyframe_path: Optional[str], folder: str,
                  model_dir: str) -> List[str]:
    configs = gin_dir(polyframe_path)
    return [*python(polyframe_path), "-m", "polyframe.main", "--mode=train",
            *[f"--gin_file={os.path.join(configs, name)}"
              for name in GIN_FILES],
            f"--gin_param=DATA_PATH='{folder}'",
            "--gin_param=TrainConfig.max_epochs=1",
            "--gin_param=TrainConfig.max_steps=None",
            "--gin_param=TrainConfig.max_train_minutes=None",
            f"--model_dir={model_dir}"]


def check_imports(polyframe_path: Optional[str]) -> str:
    """Where the children import polyframe and its plugins from."""
    code = ("import polyframe, polyframe_plugins; "
            "print(polyframe.__file__); print(polyframe_plugins.__file__)")
    process = subprocess.run([*python(polyframe_path), "-c", code], cwd=REPO,
                             env=child_env(None, polyframe_path),
                             capture_output=True, text=True)
    if process.returncode:
        raise SystemExit(f"importing polyframe failed:\n"
                         f"{process.stderr[-3000:]}")
    paths = process.stdout.split()
    if polyframe_path:
        for path in paths:
            if not path.startswith(polyframe_path + os.sep):
                raise SystemExit(f"the children import {path}, not from "
                                 f"--polyframe_path={polyframe_path}")
    return ", ".join(paths)


def monitored_run(command: List[str], env: Dict[str, str], work: str
                  ) -> Dict[str, object]:
    """Runs `command` from the repository root and samples its memory.

    Its output goes to `work`/train.log, and every sample (seconds, main
    VmRSS, tree VmRSS in kB, processes, log size) to `work`/memory.csv.

    Returns:
        wall_s; peak_main (VmHWM of the main process, last value read) and
        ru_maxrss (wait4's: the main process or a worker it waited for);
        peak_tree (largest sum of VmRSS over the tree) with its time and
        process count; the log and the phases (see `phases`).
    """
    log_path = os.path.join(work, "train.log")
    samples = []  # (seconds, main kB, tree kB, processes, log bytes)
    hwm = 0
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        pid = process.pid
        while True:
            waited, status, usage = os.wait4(pid, os.WNOHANG)
            if waited:
                break
            now = time.perf_counter() - started
            pids = _tree(pid)
            main = total = 0
            for member in pids:
                values = _status_kb(member, ("VmRSS", "VmHWM"))
                total += values.get("VmRSS", 0)
                if member == pid and values:
                    main = values.get("VmRSS", 0)
                    hwm = max(hwm, values.get("VmHWM", 0))
            samples.append((now, main, total, len(pids),
                            os.path.getsize(log_path)))
            time.sleep(POLL_S)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    with open(log_path, "rb") as file:
        data = file.read()
    if process.returncode:
        raise SystemExit(f"the run failed (exit code {process.returncode}):"
                         f" {' '.join(command)}\nits output ends with:\n"
                         f"{data[-4000:].decode('utf-8', 'replace')}")
    with open(os.path.join(work, "memory.csv"), "w") as file:
        file.write("seconds,main_rss_kb,tree_rss_kb,processes,log_bytes\n")
        file.writelines(",".join(f"{value:.2f}" if isinstance(value, float)
                                 else str(value) for value in sample) + "\n"
                        for sample in samples)
    samples = samples or [(0.0, 0, 0, 1, 0)]
    tree_peak = max(samples, key=lambda sample: sample[2])
    return {"wall_s": wall, "peak_main": hwm * 1024.0,
            "ru_maxrss": usage.ru_maxrss * 1024.0,
            "peak_tree": tree_peak[2] * 1024.0, "peak_tree_at": tree_peak[0],
            "tree_processes": tree_peak[3],
            "log": data.decode("utf-8", "replace"),
            "phases": phases(data, samples)}


# A line of absl's Python log: "I1126 12:19:53.654490 139891637578624
# file.py:77] "; TensorFlow's C++ lines ("I0000 00:00:...") are left out.
LOG_LINE = re.compile(rb"^[IWEF](?!0000 )\d{4} [\d:.]+ +\d+ \S+\] ")


def phases(log: bytes, samples: List[Tuple]) -> List[Tuple]:
    """Splits the run at its log lines: for each line (and the start-up
    before the first), when it was written, the peak main and tree RSS (kB)
    sampled while it was the last line, and its text."""
    starts = [(0, 0.0, "(start-up: imports, before the first log line)")]
    offset = 0
    for line in log.splitlines(keepends=True):
        offset += len(line)
        if LOG_LINE.match(line):
            text = LOG_LINE.sub(b"", line).decode("utf-8", "replace")
            starts.append((offset, None, " ".join(text.split())))
    result = []
    index = 0
    for number, (begin, _, text) in enumerate(starts):
        end = starts[number + 1][0] if number + 1 < len(starts) else None
        inside = []
        while index < len(samples) and (end is None or samples[index][4] < end):
            if samples[index][4] >= begin:
                inside.append(samples[index])
            index += 1
        if inside:
            result.append((inside[0][0], max(s[1] for s in inside),
                           max(s[2] for s in inside), text))
    return result


def measure_in_child(cache_dir: str, polyframe_path: Optional[str],
                     log_path: str) -> Dict[str, float]:
    """Runs `--measure_corpus` in a fresh process; returns its result."""
    # The script's own folder goes first on sys.path; it holds no polyframe.
    command = [sys.executable, os.path.abspath(__file__),
               f"--measure_corpus={cache_dir}",
               f"--encoder_config="
               f"{os.path.join(gin_dir(polyframe_path), GIN_FILES[0])}"]
    with open(log_path, "wb") as log:
        process = subprocess.run(command, cwd=REPO,
                                 env=child_env(cache_dir, polyframe_path),
                                 stdout=log, stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8", errors="replace") as file:
        text = file.read()
    results = [line for line in text.splitlines() if line.startswith(RESULT)]
    if process.returncode or not results:
        raise SystemExit(f"measuring the corpus failed (exit code "
                         f"{process.returncode}):\n{text[-4000:]}")
    return json.loads(results[-1][len(RESULT):])


# --- The corpus in memory (run in its own process) ---------------------------

def measure_corpus(cache_dir: str, encoder_config: str) -> None:
    """Prints the RSS growth of holding every cached piece, and its events.

    Run in a fresh process, so that nothing else it holds moves the figures;
    TensorFlow and the encoder are imported, and one record read, before the
    first reading.
    """
    import gc
    import glob
    import warnings
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")
    import tensorflow as tf  # noqa: F401 (imported before measuring)
    from note_seq.protobuf import music_pb2

    folders = [os.path.dirname(path) for path in glob.glob(os.path.join(
        cache_dir, "corpora", "midi_dir-*", "manifest.json"))]
    if len(folders) != 1:
        raise SystemExit(f"expected one corpus cache under {cache_dir}/"
                         f"corpora, found {folders}")
    with open(os.path.join(folders[0], "manifest.json")) as file:
        manifest = json.load(file)
    shards = [os.path.join(folders[0], shard["name"])
              for shard in manifest["shards"]]
    encoder_class = _encoder_class(encoder_config)

    first = next(iter(tf.data.TFRecordDataset(shards[0])))
    music_pb2.NoteSequence.FromString(first.numpy())
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    sequences = [music_pb2.NoteSequence.FromString(record.numpy())
                 for record in tf.data.TFRecordDataset(shards)]
    read_s = time.perf_counter() - started
    gc.collect()
    sequences_bytes = rss_bytes() - before
    serialized = sum(sequence.ByteSize() for sequence in sequences)
    notes = sum(len(sequence.notes) for sequence in sequences)

    encoder = encoder_class()
    started = time.perf_counter()
    encoder.fit(sequences)
    gc.collect()
    before = rss_bytes()
    events, skipped = [], 0
    for sequence in sequences:
        try:
            events.append(encoder.encode(sequence))
        except ValueError:
            skipped += 1
    encode_s = time.perf_counter() - started
    gc.collect()
    events_bytes = rss_bytes() - before
    result = {"pieces": len(sequences), "notes": notes,
              "sequences_bytes": sequences_bytes,
              "serialized_bytes": serialized,
              "events_bytes": events_bytes,
              "events_nbytes": sum(e.nbytes for e in events),
              "events": sum(len(e) for e in events), "skipped": skipped,
              "encoder": f"{encoder_class.__module__}."
                         f"{encoder_class.__qualname__}",
              "read_s": read_s, "encode_s": encode_s}
    print(RESULT + json.dumps(result), flush=True)


def _encoder_class(config: str):
    """The encoder class `Experiment.encoder` names in the gin file: the
    one registered under that name by `polyframe_plugins.encoders.<name>`,
    else that module's one class with `fit` and `encode`."""
    import importlib
    import inspect
    with open(config) as file:
        found = re.search(r"^Experiment\.encoder\s*=\s*@encoders\.(\w+)",
                          file.read(), re.MULTILINE)
    if not found:
        raise SystemExit(f"no Experiment.encoder = @encoders.NAME in {config}")
    name = found.group(1)
    module = importlib.import_module(f"polyframe_plugins.encoders.{name}")
    try:
        from polyframe.registries import ENCODERS
        return ENCODERS.get(name)
    except (ImportError, LookupError):
        classes = [value for value in vars(module).values()
                   if inspect.isclass(value) and
                   value.__module__ == module.__name__ and
                   hasattr(value, "fit") and hasattr(value, "encode")]
        if len(classes) != 1:
            raise SystemExit(f"cannot tell which class of {module.__name__} "
                             f"is the encoder {name!r}: {classes}") from None
        return classes[0]


# --- Main ---------------------------------------------------------------------

def describe_checkout(path: str) -> str:
    try:
        head = subprocess.run(["git", "-C", path, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", path, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return path
    return f"{path} at {head}{' with uncommitted changes' if dirty else ''}"


def main() -> None:
    args = parse_args()
    if args.measure_corpus:
        measure_corpus(args.measure_corpus, args.encoder_config)
        return
    sizes = sorted({int(size) for size in args.sizes.split(",")})
    polyframe_path = (os.path.abspath(args.polyframe_path)
                      if args.polyframe_path else None)
    checkout = polyframe_path or REPO
    print(f"measuring {describe_checkout(checkout)}")
    print(f"children import: {check_imports(polyframe_path)}")
    print(f"gin configs: {gin_dir(polyframe_path)}")
    print(f"cores: {os.cpu_count()}; load average before: {_load_average()}")

    root = tempfile.mkdtemp(prefix="polyframe-streaming-memory-")
    rows = {}
    for size in sizes:
        started = time.perf_counter()
        folder, written = midi_corpus.cached_corpus(
            args.corpus_dir, size, args.notes_per_voice)
        generation_s = time.perf_counter() - started
        on_disk = sum(entry.stat().st_size for sub in os.scandir(folder)
                      if sub.is_dir() for entry in os.scandir(sub.path))
        print(f"\n== {size} files: {folder} ({on_disk / MB:.1f} MB), "
              + (f"written in {generation_s:.1f} s" if written
                 else "reused"), flush=True)
        work = os.path.join(root, f"files{size}")
        cache_dir = os.path.join(work, "cache")
        os.makedirs(cache_dir)
        command = train_command(polyframe_path, folder,
                                os.path.join(work, "model"))
        run = monitored_run(command, child_env(cache_dir, polyframe_path),
                            work)
        print(f"trained one epoch in {run['wall_s']:.1f} s; peak RSS: main "
              f"{_mb(run['peak_main'])} MB (wait4 ru_maxrss "
              f"{_mb(run['ru_maxrss'])} MB), tree {_mb(run['peak_tree'])} MB "
              f"(at {run['peak_tree_at']:.0f} s, {run['tree_processes']} "
              f"processes)")
        print("  RSS while each log line was the last one (main, tree):")
        for seconds, main_kb, tree_kb, text in _shown(run["phases"]):
            print(f"  {seconds:6.0f} s {_mb(main_kb * 1024.0):>7} "
                  f"{_mb(tree_kb * 1024.0):>7} MB  {text[:88]}")
        steps = re.findall(r"epoch (\d+) \(step (\d+), ([\d.]+)s\)",
                           run["log"])
        if steps:
            print(f"  epoch {steps[-1][0]}: {steps[-1][1]} steps in "
                  f"{float(steps[-1][2]):.0f} s of training")
        started = time.perf_counter()
        corpus = measure_in_child(cache_dir, polyframe_path,
                                  os.path.join(work, "measure.log"))
        corpus["measure_s"] = time.perf_counter() - started
        corpus_bytes = corpus["sequences_bytes"] + corpus["events_bytes"]
        print(f"corpus in memory (measured in {corpus['measure_s']:.0f} s: "
              f"read {corpus['read_s']:.0f} s, fit and encode "
              f"{corpus['encode_s']:.0f} s): {corpus['pieces']} pieces, "
              f"{corpus['notes']} notes")
        print(f"  NoteSequences {_mb(corpus['sequences_bytes'])} MB "
              f"({_mb(corpus['serialized_bytes'])} MB serialized)")
        print(f"  event arrays  {_mb(corpus['events_bytes'])} MB "
              f"({corpus['events']} events, {_mb(corpus['events_nbytes'])} "
              f"MB of array data; {corpus['skipped']} pieces not encodable; "
              f"{corpus['encoder']})")
        print(f"  total         {_mb(corpus_bytes)} MB", flush=True)
        rows[size] = dict(run, generation_s=generation_s, written=written,
                          corpus_bytes=corpus_bytes, **corpus)

    print(f"\nload average after: {_load_average()}")
    print(f"\n{'files':>7} {'notes':>10} {'gen s':>7} {'wall s':>7} "
          f"{'peak main MB':>13} {'peak tree MB':>13} {'corpus MB':>10} "
          f"{'(NoteSeqs':>10} {'+ events)':>10}")
    for size, row in rows.items():
        generation = (f"{row['generation_s']:7.0f}" if row["written"]
                      else f"{'reused':>7}")
        print(f"{size:7d} {row['notes']:10d} {generation} "
              f"{row['wall_s']:7.0f} {_mb(row['peak_main']):>13} "
              f"{_mb(row['peak_tree']):>13} {_mb(row['corpus_bytes']):>10} "
              f"{_mb(row['sequences_bytes']):>10} "
              f"{_mb(row['events_bytes']):>10}")
    if len(rows) > 1:
        small, large = rows[sizes[0]], rows[sizes[-1]]
        for label, key in (("main", "peak_main"), ("tree", "peak_tree")):
            ratio = (large[key] - small[key]) / max(large["corpus_bytes"], 1)
            print(f"peak {label} growth {sizes[0]} -> {sizes[-1]} files / "
                  f"corpus in memory at {sizes[-1]} files: "
                  f"({_mb(large[key])} - {_mb(small[key])}) / "
                  f"{_mb(large['corpus_bytes'])} = {ratio:.3f} "
                  f"({'<' if ratio < 0.2 else 'NOT <'} 0.20)")
    if args.keep:
        print(f"kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


def _shown(phases: List[Tuple], most: int = 30) -> List[Tuple]:
    """At most `most` phases: the first and last, and those where the main
    process's peak grew most."""
    if len(phases) <= most:
        return phases
    growth = sorted(range(1, len(phases) - 1), reverse=True,
                    key=lambda i: phases[i][1] - phases[i - 1][1])
    keep = {0, len(phases) - 1, *growth[:most - 2]}
    return [phase for i, phase in enumerate(phases) if i in keep]


def _mb(value: float) -> str:
    """Megabytes (10^6 bytes): one decimal below 10."""
    return f"{value / MB:.1f}" if abs(value) < 10 * MB else f"{value / MB:.0f}"


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
