"""``retain_freed_memory``: tensor memory freed by the process stays with it for reuse."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

_FREE_AND_MEASURE = """
import os, sys, torch
from pyro_vae.allocator import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory() and retain_freed_memory()  # in force, and idempotent
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
base = resident()
block = torch.ones(5 * 2**20)  # 20 MiB, written, so its pages are resident
grown = resident()
del block
print((resident() - base) / (grown - base))
"""


def _resident_fraction_after_free(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _FREE_AND_MEASURE, mode], capture_output=True, text=True, check=True)
    return float(out.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_blocks_stay_resident_only_when_retained():
    """glibc unmaps a freed 20 MiB block at once (the next one is faulted in afresh); after
    ``retain_freed_memory`` the block stays in the heap for the next allocation."""
    assert _resident_fraction_after_free("default") < 0.1
    assert _resident_fraction_after_free("retain") > 0.9
