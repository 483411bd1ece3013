"""NLL figures from summed nats and counts, in the units papers report."""

import math
from typing import Dict, Mapping

PER = ("event", "token", "note")


def from_sums(sums: Mapping[str, float]) -> Dict[str, float]:
    """Turns summed `nll` (nats) and counts into per-unit NLL.

    Args:
        sums: `nll`, optional `nll_<field>` sums, and the counts `events`,
            `tokens` and `notes`.

    Returns:
        `nll_per_event`, `nll_per_token`, `nll_per_note` in nats, the same in
        bits as `bits_per_*`, per-field nats per event as
        `nll_<field>_per_event`, and the counts.
    """
    result: Dict[str, float] = {}
    for unit in PER:
        count = sums.get(f"{unit}s", 0.0)
        nats = sums["nll"] / count if count else math.nan
        result[f"nll_per_{unit}"] = nats
        result[f"bits_per_{unit}"] = nats / math.log(2)
        result[f"num_{unit}s"] = count
    for key, value in sums.items():
        if key.startswith("nll_") and sums.get("events"):
            result[f"{key}_per_event"] = value / sums["events"]
    return result
