"""Hostile files through ingestion: mutated MIDI and MusicXML, and the limits.

Each fuzz case is one file parsed by `ingest.parse_file`, what every
ingestion worker runs per file, here in this process for speed, with the
parsers and limits of the real sources. The cases (see `fuzz_inputs`) are a
few hundred derandomised mutations of a valid MIDI file and a valid score:
flipped bits, truncations, absurd headers and values, huge delta times,
broken XML, missing parts, entity expansion and zip bombs. Every file must
be kept as a usable piece (one that `select_voices` accepts as it is) or
skipped with one of the fixed `skip_reasons`, never the catch-all "parser
error" (an exception no wrapper expected), within the time limit and
without a memory blow-up. Named hostile files get exact checks, the limits
have tests of their own, and folders of good and hostile files go through
the real ingestion. `benchmarks/fuzz_ingest.py` runs the same generators for
thousands of cases.
"""

import collections
import hashlib
import json
import os
import re
import resource
import signal
import threading
import time
import tracemalloc

import hypothesis
from note_seq.protobuf import music_pb2
import pytest

import fuzz_inputs
from fuzz_inputs import (CHORALE, HUGE_DELTA, MANY_TRACKS, TICKS_PER_QUARTER,
                         billion_laughs, huge_delta_midi, many_tracks_midi,
                         midi_header, mxl, seed_midi, seed_musicxml, zip_bomb)
from polyframe.data import ingest, skip_reasons
from polyframe.data.corpus import SPLITS
from polyframe.data.voice_rules import VoicedPiece
from polyframe.data.voices import DROPPED_NOT_A_VOICE
from polyframe_plugins.sources import midi_dir
from polyframe_plugins.sources.midi_dir import MAX_TICKS, MidiDirectory
from polyframe_plugins.sources.musicxml_dir import MusicXmlDirectory

# Cases per property test; 650 in all.
MIDI_CASES = 250
MUSICXML_CASES = 250
ENTITY_CASES = 50
MXL_CASES = 100
FUZZ = hypothesis.settings(
    derandomize=True, deadline=None, database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow,
                           hypothesis.HealthCheck.data_too_large,
                           hypothesis.HealthCheck.large_base_example])

TIME_LIMIT_S = 5.0
# Time the limit may overrun by: the timer fires, then the parse unwinds.
TIME_SLACK_S = 1.0
MAX_FILE_MB = 2.0
MAX_BYTES = 2 << 20
# Most a single file may raise this process's peak memory by.
MEMORY_BUDGET_BYTES = 256 << 20
KEPT = "kept"
ENTITY_DETAIL = ("declares the entity {!r}; MusicXML needs none, and nested "
                 "entities can expand a small file into gigabytes")


def parsers(tmp_path):
    """The parse function of every extension, as the sources make them."""
    options = dict(cache_dir=str(tmp_path / "cache"),
                   parse_timeout_s=TIME_LIMIT_S, max_file_mb=MAX_FILE_MB)
    midi = MidiDirectory(**options)
    musicxml = MusicXmlDirectory(**options)
    assert midi.limits == musicxml.limits == ingest.FileLimits(
        TIME_LIMIT_S, MAX_BYTES)
    return {".mid": midi.parser(), ".midi": midi.parser(),
            ".xml": musicxml.parser(), ".musicxml": musicxml.parser(),
            ".mxl": musicxml.parser()}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def ingest_case(case, folder, parse_by_extension):
    """Parses one case as a worker would; returns the result and seconds."""
    (folder / case.name).write_bytes(case.data)
    parse = parse_by_extension[os.path.splitext(case.name)[1].lower()]
    started = time.monotonic()
    result = ingest.parse_file(parse, str(folder), case.name, "fuzz",
                               ingest.FileLimits(TIME_LIMIT_S, MAX_BYTES))
    return result, time.monotonic() - started


def assert_kept_or_named(result, seconds, rss_growth):
    """The property every fuzz case must have."""
    assert seconds < TIME_LIMIT_S + TIME_SLACK_S
    assert rss_growth < MEMORY_BUDGET_BYTES
    if result.record is None:
        assert result.reason in skip_reasons.REASONS, result.message
        assert result.reason != skip_reasons.PARSER_ERROR, result.message
    else:
        assert result.reason == ""
        problem = fuzz_inputs.problem_of(result.record)
        assert not problem, problem


def run_cases(strategy, count, tmp_path):
    """Runs `count` derandomised cases of `strategy` through ingestion;
    returns how many were kept or skipped, by reason."""
    folder = tmp_path / "files"
    folder.mkdir()
    parse_by_extension = parsers(tmp_path)
    outcomes = collections.Counter()

    @hypothesis.settings(FUZZ, max_examples=count)
    @hypothesis.given(strategy)
    def property_holds(case):
        before = peak_rss_bytes()
        result, seconds = ingest_case(case, folder, parse_by_extension)
        assert_kept_or_named(result, seconds, peak_rss_bytes() - before)
        outcomes[result.reason or KEPT] += 1

    property_holds()
    return outcomes


def lines(record):
    """Pitches of every voice in time order."""
    piece = music_pb2.NoteSequence.FromString(record)
    by_voice = collections.defaultdict(list)
    for note in sorted(piece.notes, key=lambda n: (n.start_time, n.pitch)):
        by_voice[note.instrument].append(note.pitch)
    return [by_voice[voice] for voice in sorted(by_voice)]


def parse_named(tmp_path, name, data):
    folder = tmp_path / "named"
    folder.mkdir(exist_ok=True)
    return ingest_case(fuzz_inputs.Case(name, data, ()), folder,
                       parsers(tmp_path))


# --- Properties --------------------------------------------------------------


def test_mutated_midi_files_are_kept_or_skipped_with_a_reason(tmp_path):
    outcomes = run_cases(fuzz_inputs.midi_cases(), MIDI_CASES, tmp_path)
    assert sum(outcomes.values()) == MIDI_CASES
    # The mutations reach every layer: the header check, mido, the time
    # base checks, and the voice rules.
    assert {KEPT, skip_reasons.NOT_MIDI, skip_reasons.CORRUPT_MIDI,
            skip_reasons.UNSUPPORTED} <= set(outcomes)


def test_mutated_musicxml_files_are_kept_or_skipped_with_a_reason(tmp_path):
    outcomes = run_cases(fuzz_inputs.musicxml_cases(), MUSICXML_CASES,
                         tmp_path)
    assert sum(outcomes.values()) == MUSICXML_CASES
    assert {KEPT, skip_reasons.BROKEN_MUSICXML,
            skip_reasons.NOTHING_LEFT} <= set(outcomes)


def test_every_entity_declaration_is_refused(tmp_path):
    outcomes = run_cases(fuzz_inputs.entity_cases(), ENTITY_CASES, tmp_path)
    assert outcomes == {skip_reasons.XML_ENTITIES: ENTITY_CASES}


def test_mutated_mxl_archives_are_kept_or_skipped_with_a_reason(tmp_path):
    outcomes = run_cases(fuzz_inputs.mxl_cases(MAX_BYTES + 1), MXL_CASES,
                         tmp_path)
    assert sum(outcomes.values()) == MXL_CASES
    assert {KEPT, skip_reasons.BROKEN_MUSICXML, skip_reasons.TOO_LARGE,
            skip_reasons.XML_ENTITIES} <= set(outcomes)


# --- Named hostile files -----------------------------------------------------


@pytest.mark.parametrize("name, data", [
    ("seed.mid", seed_midi()),
    ("seed.musicxml", seed_musicxml().encode("utf-8")),
    ("seed.mxl", mxl([("META-INF/container.xml",
                       fuzz_inputs.CONTAINER.encode("utf-8")),
                      ("score.xml", seed_musicxml().encode("utf-8"))])),
])
def test_the_seeds_are_kept_with_their_four_voices(tmp_path, name, data):
    result, _ = parse_named(tmp_path, name, data)
    assert result.reason == ""
    assert lines(result.record) == list(CHORALE.values())


def test_a_header_claiming_10000_tracks_is_a_truncated_file(tmp_path):
    data = midi_header(1, MANY_TRACKS, TICKS_PER_QUARTER) + seed_midi()[14:]
    result, seconds = parse_named(tmp_path, "claims.mid", data)
    assert (result.reason, result.detail) == (
        skip_reasons.CORRUPT_MIDI,
        "the file ends in the middle of a chunk (truncated)")
    assert seconds < 1


def test_10000_real_tracks_are_read_within_the_limits(tmp_path):
    before = peak_rss_bytes()
    result, seconds = parse_named(tmp_path, "many.mid",
                                  many_tracks_midi(with_notes=True))
    assert peak_rss_bytes() - before < MEMORY_BUDGET_BYTES
    assert seconds < TIME_LIMIT_S
    # 250 tracks hold the highest pitch, 79; the first four are the voices.
    assert lines(result.record) == [[79], [79], [79], [79]]
    assert result.notes_dropped == {DROPPED_NOT_A_VOICE: MANY_TRACKS - 4}
    result, _ = parse_named(tmp_path, "silent.mid",
                            many_tracks_midi(with_notes=False))
    assert (result.reason, result.detail) == (skip_reasons.NO_NOTES,
                                              "the file holds no notes")


def test_the_largest_delta_time_is_refused_before_any_allocation(tmp_path):
    tracemalloc.start()
    try:
        result, seconds = parse_named(tmp_path, "huge.mid", huge_delta_midi())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.reason, result.detail) == (
        skip_reasons.CORRUPT_MIDI,
        "an event lies 268,435,935 ticks in, beyond 10,000,000 ticks "
        "(559,242 quarter notes): a corrupt delta time")
    assert HUGE_DELTA + TICKS_PER_QUARTER == 268_435_935
    assert peak < 16 << 20 and seconds < 1


def test_an_event_at_the_last_tick_allowed_is_kept(tmp_path):
    result, _ = parse_named(
        tmp_path, "long.mid",
        huge_delta_midi(MAX_TICKS - TICKS_PER_QUARTER))
    # The fifth track, unnamed, is no voice; its note is dropped.
    assert lines(result.record) == list(CHORALE.values())
    assert result.notes_dropped == {DROPPED_NOT_A_VOICE: 1}


@pytest.mark.parametrize("division, reason, detail", [
    (0, skip_reasons.CORRUPT_MIDI,
     "a time division of 0 ticks per quarter note"),
    (-(25 << 8) + 40, skip_reasons.UNSUPPORTED,
     "SMPTE timing (25 frames per second, 40 ticks per frame) instead of "
     "ticks per quarter note"),
    (-(30 << 8) + 80, skip_reasons.UNSUPPORTED,
     "SMPTE timing (30 frames per second, 80 ticks per frame) instead of "
     "ticks per quarter note"),
])
def test_absurd_time_divisions_are_named(tmp_path, division, reason, detail):
    data = midi_header(1, 5, division) + seed_midi()[14:]
    result, _ = parse_named(tmp_path, "division.mid", data)
    assert (result.reason, result.detail) == (reason, detail)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_is_refused_without_expanding(tmp_path, encoding):
    text = billion_laughs(depth=10, fan_out=10)
    if encoding == "utf-16":
        text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    tracemalloc.start()
    try:
        result, seconds = parse_named(tmp_path, "lol.xml",
                                      text.encode(encoding))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.reason, result.detail) == (
        skip_reasons.XML_ENTITIES, "it " + ENTITY_DETAIL.format("lol0"))
    assert peak < 4 << 20 and seconds < 1


def test_entities_in_an_archive_member_are_refused(tmp_path):
    container = fuzz_inputs.CONTAINER.replace(
        "<container>", '<!DOCTYPE container [<!ENTITY a "a">]><container>')
    data = mxl([("META-INF/container.xml", container.encode("utf-8")),
                ("score.xml", seed_musicxml().encode("utf-8"))])
    result, _ = parse_named(tmp_path, "packed.mxl", data)
    assert (result.reason, result.detail) == (
        skip_reasons.XML_ENTITIES,
        "its member META-INF/container.xml " + ENTITY_DETAIL.format("a"))


def test_a_zip_bomb_is_refused_by_its_unpacked_size(tmp_path):
    data = zip_bomb(MAX_BYTES + 1)
    assert len(data) < MAX_BYTES // 100
    result, seconds = parse_named(tmp_path, "bomb.mxl", data)
    unpacked = MAX_BYTES + 1 + len(fuzz_inputs.CONTAINER)
    assert (result.reason, result.detail) == (
        skip_reasons.TOO_LARGE,
        f"the archive unpacks to {unpacked:,} bytes, more than the limit of "
        "2,097,152 bytes")
    assert seconds < 1


def seed_with(old, new, count=1):
    seed = seed_musicxml()
    assert old in seed
    return seed.replace(old, new, count).encode("utf-8")


def without(pattern):
    return re.sub(pattern, "", seed_musicxml(), count=1,
                  flags=re.S).encode("utf-8")


@pytest.mark.parametrize("data, reason, detail", [
    (seed_with("<duration>2</duration>", "<duration>0</duration>", -1),
     skip_reasons.NOTHING_LEFT,
     "every note was dropped (16 zero-length note; pitches are kept in "
     "21..108)"),
    (seed_with("<duration>2</duration>", "<duration>-4</duration>", -1),
     skip_reasons.NOTHING_LEFT,
     "every note was dropped (16 zero-length note; pitches are kept in "
     "21..108)"),
    (seed_with("<duration>2</duration>", "<duration>1000000000000</duration>"),
     skip_reasons.TOO_LONG,
     "a note ends 500,000,000,000 quarter notes in, beyond 100,000"),
    (seed_with("</note>", "</note><forward><duration>1000000</duration>"
               "</forward>"), skip_reasons.TOO_LONG,
     "a note ends 500,002 quarter notes in, beyond 100,000"),
    (seed_with("<duration>2</duration>", "<duration>x</duration>"),
     skip_reasons.BROKEN_MUSICXML,
     "ValueError: invalid literal for int() with base 10: 'x'"),
    (seed_with("<divisions>2</divisions>", "<divisions>0</divisions>"),
     skip_reasons.BROKEN_MUSICXML, "ZeroDivisionError: division by zero"),
    (seed_with("<divisions>2</divisions>", "<divisions>two</divisions>"),
     skip_reasons.BROKEN_MUSICXML,
     "ValueError: invalid literal for int() with base 10: 'two'"),
    (seed_with('tempo="90"', 'tempo="inf"'), skip_reasons.BROKEN_MUSICXML,
     "a note time or a tempo is not a finite number (a tempo or duration "
     "out of range)"),
    (without(r'<part id="P4">.*?</part>'), skip_reasons.NOTHING_LEFT,
     "no notes for the bass (dealt out by pitch order, the notes fill only "
     "3 of 4 voices)"),
    (seed_musicxml()[:1000].encode("utf-8"), skip_reasons.BROKEN_MUSICXML,
     "unclosed token: line 1, column 999"),
    (seed_with("</measure>", ""), skip_reasons.BROKEN_MUSICXML,
     "mismatched tag: line 1, column 1210"),
], ids=["duration 0", "duration -4", "duration 10**12", "forward 10**6",
        "duration x", "divisions 0", "divisions two", "tempo inf",
        "declared part missing", "truncated", "unbalanced"])
def test_absurd_musicxml_is_skipped_with_its_reason(tmp_path, data, reason,
                                                     detail):
    result, _ = parse_named(tmp_path, "score.xml", data)
    assert (result.reason, result.detail) == (reason, detail)


def test_a_part_missing_from_the_part_list_is_still_a_voice(tmp_path):
    result, _ = parse_named(tmp_path, "score.xml",
                            without(r'<score-part id="P4">.*?</score-part>'))
    # The unnamed part cannot be the bass by name; by pitch it is.
    assert lines(result.record) == list(CHORALE.values())


# --- The limits --------------------------------------------------------------


# How long the stuck parsers below stay stuck, far beyond the limits the
# tests set: without a limit, they end and the tests fail instead of hanging.
STUCK_S = 10.0


def _spins(path, data):
    """A parser stuck on b.mid in a loop that swallows every Exception."""
    del data
    stuck_until = time.monotonic() + STUCK_S
    while path.endswith("b.mid") and time.monotonic() < stuck_until:
        try:
            time.sleep(0.01)
        except Exception:  # pylint: disable=broad-except
            pass
    raise skip_reasons.UnusableFileError(skip_reasons.NO_NOTES, "nothing")


def test_a_stuck_parse_is_stopped_and_the_timer_handed_back(tmp_path):
    (tmp_path / "b.mid").write_bytes(b"MThd")
    handler = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    result = ingest.parse_file(_spins, str(tmp_path), "b.mid",
                               limits=ingest.FileLimits(seconds=0.2))
    assert time.monotonic() - started < 0.2 + TIME_SLACK_S
    assert (result.reason, result.detail) == (skip_reasons.TOO_SLOW,
                                              "stopped after 0.2 s")
    assert result.sha256 == hashlib.sha256(b"MThd").hexdigest()
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_stuck_parses_are_stopped_in_worker_processes(tmp_path):
    names = ["a.mid", "b.mid", "c.mid"]
    for name in names:
        (tmp_path / name).write_bytes(b"MThd")
    results = list(ingest.parse_files(
        _spins, str(tmp_path), names, num_workers=2,
        limits=ingest.FileLimits(seconds=0.5)))
    assert [(r.path, r.reason, r.detail) for r in results] == [
        ("a.mid", skip_reasons.NO_NOTES, "nothing"),
        ("b.mid", skip_reasons.TOO_SLOW, "stopped after 0.5 s"),
        ("c.mid", skip_reasons.NO_NOTES, "nothing")]


def test_outside_the_main_thread_no_time_limit_applies(tmp_path):
    (tmp_path / "a.mid").write_bytes(b"MThd")

    def slow(path, data):
        time.sleep(0.3)
        raise skip_reasons.UnusableFileError(skip_reasons.NO_NOTES)

    results = []
    thread = threading.Thread(target=lambda: results.append(
        ingest.parse_file(slow, str(tmp_path), "a.mid",
                          limits=ingest.FileLimits(seconds=0.05))))
    thread.start()
    thread.join()
    assert [(r.reason, r.detail) for r in results] == [
        (skip_reasons.NO_NOTES, "")]


def test_files_over_the_size_limit_are_not_read(tmp_path):
    parsed = []

    def parse(path, data):
        parsed.append(os.path.basename(path))
        return VoicedPiece(music_pb2.NoteSequence(), {}, {})

    (tmp_path / "fits.mid").write_bytes(b"x" * 1000)
    (tmp_path / "over.mid").write_bytes(b"x" * 1001)
    limits = ingest.FileLimits(max_bytes=1000)
    fits, over = [ingest.parse_file(parse, str(tmp_path), name,
                                    limits=limits)
                  for name in ("fits.mid", "over.mid")]
    assert parsed == ["fits.mid"]
    assert (fits.reason, over.reason, over.detail) == (
        "", skip_reasons.TOO_LARGE,
        "1,001 bytes, more than the limit of 1,000 bytes")
    # The hash of the whole file, as the fingerprint has it.
    assert over.sha256 == hashlib.sha256(b"x" * 1001).hexdigest()


def test_limit_options_default_and_switch_off():
    assert MidiDirectory().limits == ingest.FileLimits(60.0, 64 << 20)
    assert MusicXmlDirectory(parse_timeout_s=None,
                             max_file_mb=None).limits == ingest.FileLimits()


def test_limit_options_reach_ingestion_and_the_report(tmp_path, monkeypatch):
    folder = tmp_path / "midi"
    folder.mkdir()
    (folder / "good.mid").write_bytes(seed_midi())
    (folder / "slow.mid").write_bytes(seed_midi())
    (folder / "big.mid").write_bytes(seed_midi() + b"\x00" * 1024)
    parse = midi_dir.parse_midi

    def stuck_on_slow(path, data, rule):
        stuck_until = time.monotonic() + STUCK_S
        while path.endswith("slow.mid") and time.monotonic() < stuck_until:
            time.sleep(0.01)
        return parse(path, data, rule)

    monkeypatch.setattr(midi_dir, "parse_midi", stuck_on_slow)
    source = MidiDirectory(str(folder), cache_dir=str(tmp_path / "cache"),
                           num_workers=1, parse_timeout_s=0.25,
                           max_file_mb=1 / 1024)
    corpus = source.load()
    assert [p.id for name in SPLITS for p in corpus.split(name)] == [
        "good.mid"]
    with open(source.report_path, encoding="utf-8") as f:
        report = json.load(f)
    size = len(seed_midi()) + 1024
    assert report["skipped"] == [
        {"path": "big.mid", "reason": skip_reasons.TOO_LARGE,
         "detail": f"{size:,} bytes, more than the limit of 1,024 bytes"},
        {"path": "slow.mid", "reason": skip_reasons.TOO_SLOW,
         "detail": "stopped after 0.25 s"}]
    assert report["settings"]["limits"] == {"parse_timeout_s": 0.25,
                                            "max_file_mb": 1 / 1024}


# --- Through the real ingestion ----------------------------------------------


def test_a_midi_folder_of_good_and_hostile_files(tmp_path):
    folder = tmp_path / "midi"
    (folder / "good").mkdir(parents=True)
    seed = seed_midi()
    (folder / "good" / "a.mid").write_bytes(seed)
    (folder / "good" / "b.midi").write_bytes(seed)
    hostile = {
        "huge_delta.mid": (huge_delta_midi(), skip_reasons.CORRUPT_MIDI),
        "claims_10000.mid": (midi_header(1, MANY_TRACKS, TICKS_PER_QUARTER)
                             + seed[14:], skip_reasons.CORRUPT_MIDI),
        "smpte.mid": (midi_header(1, 5, -(25 << 8) + 40) + seed[14:],
                      skip_reasons.UNSUPPORTED),
        "truncated.mid": (seed[:100], skip_reasons.CORRUPT_MIDI),
        "flipped.mid": (b"MThe" + seed[4:], skip_reasons.NOT_MIDI),
        "padded.mid": (seed + b"\x00" * (1 << 20),
                        skip_reasons.TOO_LARGE),
    }
    for name, (data, _) in hostile.items():
        (folder / name).write_bytes(data)
    source = MidiDirectory(str(folder), cache_dir=str(tmp_path / "cache"),
                           num_workers=2, max_file_mb=0.5)
    corpus = source.load()
    assert sorted(p.id for name in SPLITS for p in corpus.split(name)) == [
        "good/a.mid", "good/b.midi"]
    with open(source.report_path, encoding="utf-8") as f:
        report = json.load(f)
    assert {item["path"]: item["reason"] for item in report["skipped"]} == {
        name: reason for name, (_, reason) in hostile.items()}
    assert (report["num_files"], report["num_kept"]) == (8, 2)


def test_a_musicxml_folder_of_good_and_hostile_files(tmp_path):
    folder = tmp_path / "xml"
    folder.mkdir()
    seed = seed_musicxml().encode("utf-8")
    (folder / "good.musicxml").write_bytes(seed)
    (folder / "good.mxl").write_bytes(mxl([
        ("META-INF/container.xml", fuzz_inputs.CONTAINER.encode("utf-8")),
        ("score.xml", seed)]))
    hostile = {
        "laughs.xml": (billion_laughs().encode("utf-8"),
                       skip_reasons.XML_ENTITIES),
        "bomb.mxl": (zip_bomb(1 << 20), skip_reasons.TOO_LARGE),
        "cut.xml": (seed[:500], skip_reasons.BROKEN_MUSICXML),
        "endless.xml": (seed_with("<duration>2</duration>",
                                  "<duration>1000000000000</duration>"),
                        skip_reasons.TOO_LONG),
        "tempo.xml": (seed_with('tempo="90"', 'tempo="nan"'),
                      skip_reasons.BROKEN_MUSICXML),
    }
    for name, (data, _) in hostile.items():
        (folder / name).write_bytes(data)
    source = MusicXmlDirectory(str(folder),
                               cache_dir=str(tmp_path / "cache"),
                               num_workers=1, max_file_mb=0.5)
    corpus = source.load()
    assert sorted(p.id for name in SPLITS for p in corpus.split(name)) == [
        "good.musicxml", "good.mxl"]
    with open(source.report_path, encoding="utf-8") as f:
        report = json.load(f)
    assert {item["path"]: item["reason"] for item in report["skipped"]} == {
        name: reason for name, (_, reason) in hostile.items()}
