#!/usr/bin/python
"""Ansible module: read the kernel's clock discipline (adjtimex), what node_exporter's timex collector reports."""
# ruff: noqa: E402, E501 - Ansible module layout: DOCUMENTATION before the imports, one option per line

from __future__ import annotations

DOCUMENTATION = r"""
module: kernel_clock
version_added: "1.1.0"
short_description: Read the kernel's clock synchronisation state, as node_exporter's timex collector does
description:
  - Calls adjtimex(2) with no modes set, so it changes nothing; needs Linux and python3's ctypes.
  - C(synchronised) is what node_timex_sync_status says (the kernel's STA_UNSYNC flag is clear);
    C(offset_s) and C(maxerror_s) are node_timex_offset_seconds and node_timex_maxerror_seconds, the
    values the node mixin's NodeClockNotSynchronising and NodeClockSkewDetected alerts compare.
options: {}
"""

RETURN = r"""
synchronised: {description: The kernel holds the clock as synchronised (STA_UNSYNC clear)., type: bool}
offset_s: {description: The kernel PLL's time offset in seconds., type: float}
maxerror_s: {description: The maximum error estimate in seconds (16 when unsynchronised)., type: float}
status: {description: The kernel's timex status bits., type: int}
"""

import ctypes
import ctypes.util
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]

STA_UNSYNC = 0x0040
STA_NANO = 0x2000


class Timex(ctypes.Structure):
    """struct timex of <sys/timex.h>."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long),
                ("tolerance", ctypes.c_long), ("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long),
                ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
                ("shift", ctypes.c_int), ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long),
                ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long),
                ("tai", ctypes.c_int), ("padding", ctypes.c_int * 11)]


def read() -> dict[str, Any]:
    """The kernel's clock state now (adjtimex with modes 0: a read)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    timex = Timex()
    if libc.adjtimex(ctypes.byref(timex)) < 0:
        raise OSError(ctypes.get_errno(), "adjtimex failed")
    unit = 1e9 if timex.status & STA_NANO else 1e6
    return {"synchronised": not timex.status & STA_UNSYNC, "offset_s": timex.offset / unit,
            "maxerror_s": timex.maxerror / 1e6, "status": timex.status}


def main() -> None:
    """Report the state; never changed."""
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    try:
        state = read()
    except OSError as exc:
        module.fail_json(msg=f"cannot read the kernel clock: {exc}")
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
