"""NLL figures from summed nats and counts, in the units papers report."""

import math
from typing import Dict, Mapping

PER = ("event", "token", "note")
# Sums reported on their own, not per event: END's NLL is per piece end, and
# the lower voices' NLL is per note of those voices.
_APART = ("nll_end", "nll_atb", "nll_first")


def from_sums(sums: Mapping[str, float]) -> Dict[str, float]:
    """Turns summed `nll` (nats) and counts into per-unit NLL.

    Args:
        sums: `nll`, optional `nll_<field>` sums, and the counts `events`,
            `tokens` and `notes`.

    Returns:
        `nll_per_event`, `nll_per_token`, `nll_per_note` in nats (END
        excluded), the same in bits as `bits_per_*`, per-field nats per event
        as `nll_<field>_per_event`, `nll_end` (nats per END, i.e. per piece)
        when pieces end, `nll_atb_per_note` (nats per note of the voices
        after the first, which is what harmonising a given first voice
        costs), and the counts.
    """
    result: Dict[str, float] = {}
    for unit in PER:
        count = sums.get(f"{unit}s", 0.0)
        nats = sums["nll"] / count if count else math.nan
        result[f"nll_per_{unit}"] = nats
        result[f"bits_per_{unit}"] = nats / math.log(2)
        result[f"num_{unit}s"] = count
    for key, value in sums.items():
        if (key.startswith("nll_") and key not in _APART and
                sums.get("events")):
            result[f"{key}_per_event"] = value / sums["events"]
    if sums.get("ends"):
        result["nll_end"] = sums["nll_end"] / sums["ends"]
        result["num_ends"] = sums["ends"]
    if sums.get("notes_atb"):
        result["nll_atb_per_note"] = sums["nll_atb"] / sums["notes_atb"]
    if sums.get("events", 0.0) > sums.get("firsts", 0.0):
        result["nll_per_event_after_first"] = (
            (sums["nll"] - sums.get("nll_first", 0.0)) /
            (sums["events"] - sums.get("firsts", 0.0)))
        result["num_firsts"] = sums.get("firsts", 0.0)
    return result


def per_frame(values: Mapping[str, float]) -> Dict[str, float]:
    """The per-frame figures of an encoding whose events are frames.

    A frame's NLL is the sum of its tokens' NLL. `nll_per_frame` leaves out
    each piece's first frame (as the LSTM and TCN reference code, which
    never predicts it); `nll_per_frame_with_first` averages over every frame
    (as the RNN-RBM and RNN-NADE tables do).

    Args:
        values: What `from_sums` returned.
    """
    return {"nll_per_frame": values["nll_per_event_after_first"],
            "nll_per_frame_with_first": values["nll_per_event"],
            "num_frames": values["num_events"] - values["num_firsts"],
            "num_frames_with_first": values["num_events"]}
