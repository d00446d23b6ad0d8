"""How a run shares the machine with Python's cyclic garbage collector.

Parsing and analyzing a module allocates tens of thousands of objects (the tree above all) that
reference counting frees as soon as the module is done: the analysis makes no reference cycles
(``tests/test_collector.py`` holds it to that). A collection in the middle of a module walks all
of them, and every long-lived object, and frees nothing. So the collector is paused while a
module is parsed and analyzed (``paused``) and runs between modules, where the young generation
holds little; a run of many files also collects rarely and never over what was loaded before it
(``tuned``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Thresholds during a run (Python's default is 700, 10, 10), see tuned().
RUN_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def paused() -> Iterator[None]:
    """The collector off inside the block, then as it was: a host that had paused it keeps it
    paused. In a generator, the block ends when the generator is closed, run to its end or not."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@contextmanager
def tuned() -> Iterator[None]:
    """Collect rarely, and never over what was loaded before the block: at the default thresholds
    a run of many files spent about a fifth of its CPU time in collections that found nothing.
    Frozen objects also stay untouched in forked workers (no copy-on-write)."""
    saved = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*RUN_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()
