"""How one accelerator's energy in one minute is shared among the deployments holding it (SCI: reserved
hardware counts, idle included)."""

EXCLUSIVE = "gpu:exclusive"
BY_UTILIZATION = "gpu:shared-by-process-utilization"
EVENLY = "gpu:shared-evenly"


def split(holders: list[int], utilization: dict[int, float | None]) -> tuple[dict[int, float], str]:
    """Each holder's fraction of the accelerator and the rule used. `utilization` is each holder's mean
    per-process SM utilization in the minute (None: its process reported none)."""
    if len(holders) == 1:
        return {holders[0]: 1.0}, EXCLUSIVE
    shares = [utilization.get(holder) for holder in holders]
    if all(share is not None for share in shares) and sum(shares) > 0:
        total = sum(shares)
        return {holder: share / total for holder, share in zip(holders, shares, strict=True)}, BY_UTILIZATION
    return {holder: 1.0 / len(holders) for holder in holders}, EVENLY
