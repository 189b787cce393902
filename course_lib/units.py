"""Byte units, and one way to print a size.

Used by every chapter that shows a size (notebooks 01-07). Sizes inside the
library are exact integers of bytes; GB (10^9) and GiB (2^30) are both in
use in the wild, so a printed size names its unit and usually shows both.
"""

from __future__ import annotations

GB, GIB, MIB, KIB = 10**9, 2**30, 2**20, 2**10


def format_bytes(n: float) -> str:
    """`1.23 GiB (1.32 GB)`: binary and decimal units side by side, because both are in use."""
    for binary, decimal, power in (("GiB", "GB", 3), ("MiB", "MB", 2)):
        if abs(n) >= 1024**power:
            return f"{n / 1024**power:.2f} {binary} ({n / 1000**power:.2f} {decimal})"
    return f"{n / 1024:.2f} KiB ({n / 1000:.2f} kB)"
