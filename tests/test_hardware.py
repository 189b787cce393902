"""The machine probe and the bandwidth measurement."""

import pytest

from course_lib.runtime import machine_info, measure_memory_bandwidth, usable_cores
from course_lib.units import format_bytes


def test_machine_info_is_consistent():
    info = machine_info()
    assert 1 <= info.usable_cores <= info.logical_cores
    assert 0 < info.ram_available_bytes <= info.ram_bytes
    assert info.has_gpu == bool(info.gpus)


def test_bandwidth_is_a_plausible_rate():
    rate = measure_memory_bandwidth(size_bytes=64 * 2**20, repeats=2)
    assert 1e8 < rate < 1e13  # between 0.1 GB/s and 10 TB/s: a measurement, not a constant


def test_bandwidth_refuses_a_buffer_that_fits_in_cache():
    with pytest.raises(ValueError, match="16 MiB"):
        measure_memory_bandwidth(size_bytes=2**20)


@pytest.mark.parametrize("n, text", [
    (2**30, "1.00 GiB (1.07 GB)"),
    (24e9, "22.35 GiB (24.00 GB)"),
    (8 * 2**20, "8.00 MiB (8.39 MB)"),
    (1536, "1.50 KiB (1.54 kB)"),
])
def test_format_bytes_labels_both_units(n, text):
    assert format_bytes(n) == text


def test_usable_cores_is_positive():
    assert usable_cores() >= 1
