"""Memory readings every benchmark shares: fields of /proc/self/status.

Peak RSS is VmHWM, not ``ru_maxrss``: Linux carries that high-water mark across fork + exec,
so a measuring subprocess would report its parent's peak whenever that is larger.
"""

from pathlib import Path


def status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: resident now; VmHWM: peak resident) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM) in MB."""
    return status_mb("VmHWM")
