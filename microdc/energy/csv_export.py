"""The pilot table as CSV, for a pilot's carbon accounting: one row per deployment, units in the header."""

import csv
import io

LEVELS = ("gpu", "node", "facility")
# (header with its unit, function of one as_dict result)
COLUMNS = [
    ("deployment", lambda r: r["deployment"]["name"]),
    ("deployment_id", lambda r: r["deployment"]["id"]),
    ("runtime", lambda r: r["deployment"]["runtime"]),
    ("status", lambda r: r["deployment"]["status"]),
    ("model", lambda r: r["model"]),
    ("nodes", lambda r: " ".join(r["nodes"])),
    ("accelerators", lambda r: " ".join(f"{a['node']}/{a['index']}:{a['model']}" for a in r["accelerators"])),
    ("simulated", lambda r: r["simulated"]),
    ("window_start (UTC)", lambda r: r["start"]),
    ("window_end (UTC)", lambda r: r["end"]),
    ("requests", lambda r: r["requests"]),
    ("failed_requests", lambda r: r["failed_requests"]),
    ("prompt_tokens", lambda r: r["prompt_tokens"]),
    ("generation_tokens", lambda r: r["generation_tokens"]),
    *[(f"energy_{level} (J)", lambda r, level=level: r["energy_joules"][level]) for level in LEVELS],
    ("gpu_idle_share (ratio)", lambda r: r["idle_share"]),
    ("pue (ratio)", lambda r: r["pue"]),
    *[(f"joules_per_request_{level} (J)", lambda r, level=level: r["joules_per_request"][level])
      for level in LEVELS],
    *[(f"joules_per_token_{level} (J)", lambda r, level=level: r["joules_per_token"][level])
      for level in LEVELS],
    ("wh_per_1k_tokens_facility (Wh)", lambda r: r["wh_per_1k_tokens"]["facility"]),
    *[(f"carbon_{kind} (gCO2e)", lambda r, kind=kind: r["carbon_grams"][kind])
      for kind in ("operational", "embodied", "total")],
    ("grams_per_request_total (gCO2e)", lambda r: r["grams_per_request"]["total"]),
    ("grams_per_1k_tokens_total (gCO2e)", lambda r: r["grams_per_1k_tokens"]["total"]),
    ("complete", lambda r: r["complete"]),
    ("reasons", lambda r: "; ".join(r["reasons"])),
]


def _cell(value) -> str:
    # Unknown stays visibly unknown: an empty cell, never a 0.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    # Text starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + text if isinstance(value, str) and text[:1] in ("=", "+", "-", "@") else text


def pilot_csv(results: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in COLUMNS])
    for result in results:
        writer.writerow([_cell(get(result)) for _, get in COLUMNS])
    return out.getvalue()
