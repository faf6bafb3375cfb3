"""The accelerators a local run may use (config ``accelerator``, entry ``accelerator``); how
each one runs is ``executor.accelerate``'s business."""

from __future__ import annotations

NONE = "none"
MITOGEN = "mitogen"
ACCELERATORS = (NONE, MITOGEN)
