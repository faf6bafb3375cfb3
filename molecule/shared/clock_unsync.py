#!/usr/bin/python3
"""Mark the kernel clock unsynchronised, as it is when no daemon keeps time: STA_UNSYNC set, maximum
and estimated error 16 s, frequency correction 0,
microsecond resolution (a time daemon may have switched the kernel to nanoseconds). The time itself is not touched (no step, no slew).

The clock tests run it (in a container with CAP_SYS_TIME, or on the host) before and after a time
daemon synchronises the kernel: the clock is the machine's one clock, and this puts back the state
a machine without a time daemon has. Needs Linux and CAP_SYS_TIME. Usage: clock_unsync.py
"""

import ctypes
import ctypes.util
import sys

ADJ_FREQUENCY, ADJ_MAXERROR, ADJ_ESTERROR, ADJ_STATUS, ADJ_MICRO = 0x2, 0x4, 0x8, 0x10, 0x1000
STA_UNSYNC = 0x0040
NTP_PHASE_LIMIT_US = 16_000_000


class Timex(ctypes.Structure):
    """struct timex of <sys/timex.h>."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("rest", ctypes.c_long * 20), ("tail", ctypes.c_int * 16)]


def main() -> int:
    """Set the state; print it; non-zero when the kernel refuses."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    timex = Timex(modes=ADJ_FREQUENCY | ADJ_MAXERROR | ADJ_ESTERROR | ADJ_STATUS | ADJ_MICRO, freq=0,
                  maxerror=NTP_PHASE_LIMIT_US, esterror=NTP_PHASE_LIMIT_US, status=STA_UNSYNC)
    if libc.adjtimex(ctypes.byref(timex)) < 0:
        print(f"adjtimex: errno {ctypes.get_errno()}", file=sys.stderr)
        return 1
    check = Timex()
    libc.adjtimex(ctypes.byref(check))
    print(f"status={check.status} maxerror_us={check.maxerror} freq={check.freq}")
    return 0 if check.status & STA_UNSYNC else 1


if __name__ == "__main__":
    sys.exit(main())
