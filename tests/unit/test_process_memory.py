"""The gunicorn processes' memory policy (gateway.process_memory, issue 7)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_glibc_accepts_the_allocator_bounds_in_a_fresh_process() -> None:
    # In a child: mallopt changes the whole process and must not leak into the test run.
    script = textwrap.dedent("""
        from gateway.process_memory import bound_allocator
        print(bound_allocator())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "True"


def test_freezing_moves_every_live_object_out_of_the_collectors_reach() -> None:
    script = textwrap.dedent("""
        import gc
        import gateway.wsgi  # what the gunicorn master has imported when it forks
        from gateway.process_memory import freeze_before_fork
        before = gc.get_freeze_count()
        freeze_before_fork()
        print(before, gc.get_freeze_count(), len(gc.get_objects()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    before, frozen, still_tracked = map(int, done.stdout.split())
    assert before == 0 and frozen > 100_000  # the application's modules, classes, functions
    assert still_tracked < frozen // 100


def test_gunicorn_freezes_once_in_the_master_and_bounds_each_worker() -> None:
    script = textwrap.dedent("""
        import gc
        from types import SimpleNamespace
        from gateway.config import Settings
        from gateway.serving import gunicorn_options
        options = gunicorn_options(Settings())
        master = SimpleNamespace()
        options["pre_fork"](master, None)
        first = gc.get_freeze_count()
        extra = [object() for _ in range(10)], [[] for _ in range(1000)]
        options["pre_fork"](master, None)  # the master forks again (a worker replaced)
        options["post_fork"](master, None)
        print(first, gc.get_freeze_count(), master.notess_frozen)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    first, later, flagged = done.stdout.split()
    assert int(first) > 100_000 and later == first and flagged == "True"
