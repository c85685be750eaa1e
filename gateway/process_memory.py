"""Memory policy of the gunicorn processes (issue 7: server peak PSS <= 300 MB).

Two measures, both measured with ``bench/e2e_agent.py`` (summed PSS of master and workers):

- **Freeze what the master imported before it forks.** The master has imported the whole
  application (about 1,100 modules, ~110 MB) by the time gunicorn forks the workers, and the
  workers share those pages copy-on-write -- until the cyclic garbage collector walks every
  tracked object and writes to its header, which makes each worker copy most of them.
  ``gc.freeze()`` moves everything alive at that moment to a permanent generation the collector
  never visits (what the CPython documentation recommends before ``fork()``), so those pages stay
  shared. Reference counting still writes to the objects a worker uses; only the rest is saved.
- **Bound glibc's allocator in each worker.** A gthread worker's threads each get a malloc arena
  and keep the memory they freed for reuse; a bulk download frees several MiB at once. Two arenas
  per process and a fixed mmap threshold (allocations above 256 KiB are mapped and unmapped
  whole, never left as holes in an arena) return that memory to the system after each request.
  (A 16 KiB threshold, every document buffer mapped, saved no more memory once
  ``soap.application.release_request_memory`` was in place and cost ~10 % more CPU.)
  Best effort: on a platform without glibc's ``mallopt`` nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("gateway.serving")

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD_BYTES = 256 * 1024


def freeze_before_fork() -> None:
    """In the master, just before the first fork: collect once, then freeze the survivors."""
    gc.collect()
    gc.freeze()


def bound_allocator() -> bool:
    """In each worker after the fork: at most ``ARENAS`` malloc arenas and a fixed mmap
    threshold. Returns whether glibc accepted both settings."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    accepted = bool(mallopt(M_ARENA_MAX, ARENAS)) and bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not accepted:
        log.warning("mallopt refused the allocator bounds; memory use is glibc's default")
    return accepted
