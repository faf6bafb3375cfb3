"""The settings types of each config section, which the core (config, catalog) may import:
nothing here imports an edge (an executor, the server, a store backend).

``awx``: the ``awx`` section; ``server``: the ``server`` section; ``accelerators``: the names
the ``accelerator`` keys take.
"""

from __future__ import annotations

from pathlib import Path

StoreLocation = Path | str  # a SQLite file, or a postgresql:// URL
