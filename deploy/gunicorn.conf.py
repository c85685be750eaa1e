"""Gunicorn configuration for running the gateway directly:

    GATEWAY_DATABASE_URL=postgresql+psycopg://... gunicorn -c deploy/gunicorn.conf.py 'gateway.wsgi:create_app()'

The values come from the same function ``gateway serve`` uses, so both stay in step.
Memory (``gateway.process_memory``, hooks ``pre_fork``/``post_fork``): the master freezes what it
imported before forking, so the workers keep those pages shared, and each worker bounds glibc's
allocator (2 arenas, fixed 256 KiB mmap threshold); each request's trees and answer are dropped
as soon as it is written (``soap.application.release_request_memory``). bench/e2e_agent.py,
summed PSS of master and workers: 320-390 MB before, 225-231 MB after (30,000 notifications).
Several hosts may run this against one PostgreSQL: replay cache, sequences and audit chain
live in the database.

Connections (issue 14): the worker class is ``gateway.connections``' gthread subclass, which
reads whole requests in the worker's event loop (deadlines for headers, whole request and idle
keep-alive; bounded accept queue and connections per worker; README "Facing hostile traffic").
A slow or idle client holds no thread. Its numbers: ``bench/hostile.py``.

Metrics and logs (issue 14): the options include an ``on_starting`` hook that sets and empties
``PROMETHEUS_MULTIPROC_DIR`` (``<data_dir>/run/prometheus`` unless the environment names one)
and a ``child_exit`` hook, so ``/metrics`` sums every worker; and ``logger_class`` writes
gunicorn's error and access lines as JSON on stderr, like the application's
(``gateway.serving``). ``gateway serve`` runs exactly these options and is what
``deploy/notess-gateway.service`` and the Dockerfile start.

Workers: ``gthread``, 2 processes x 4 threads on a 2-core host (``GATEWAY_WORKERS``: one process
per core; ``--threads`` on the gunicorn command line overrides the threads). Chosen from
``bench/workers.py`` (issue 7): the real server on PostgreSQL, 4 keep-alive clients on the same
2 cores, 300 requests per run, the classes taking turns, median of 5 runs (a quiet moment of a
shared machine; repeat before drawing conclusions from small differences):

    class    workload    req/s  CPU ms/req   p95 ms
    sync     content      61.1       14.07     96.9
    gthread  content      64.6       13.13     99.4
    gevent   content      64.4       15.30     92.4
    sync     mixed        63.7       14.53    104.3
    gthread  mixed        59.0       14.50    105.2
    gevent   mixed        42.5       15.50    141.3

("content": GetContent of 20 KB documents; "mixed": one 1,000-item ListNotifications page per
50 GetContent calls, the batch agent's shape then. Earlier runs under heavy load from other work
ranked sync and gthread either way round, within noise of each other.)

Re-measured after bulk downloads (GetContents, released request memory, frozen master), same
bench, sync and gthread only, median of 3 (gevent is not installed here):
    class    workload    req/s  CPU ms/req   p95 ms
    sync     content     192.5        6.80     27.8
    gthread  content     177.6        7.25     31.2
    sync     mixed       160.9        7.77     43.3
    gthread  mixed       164.2        7.80     39.0
    sync     bulk         41.0       29.75    148.6
    gthread  bulk         41.7       29.25    143.4
("bulk": the agent's shape now, one page per 8 GetContents calls of 150 documents; per call,
i.e. ~0.2 ms of server CPU per document.) Same conclusion: equal within noise.
- Throughput and CPU per request are the same for sync and gthread within noise: the work is
  CPU-bound (XML, RSA signatures), so one process per core is what counts; threads do not add CPU.
- gthread wins on what the numbers do not show: a sync worker is killed when one request lasts
  longer than ``timeout`` (120 s), and a streamed 200 MB GetContent to a slow client does; a
  slow reader blocks a whole sync process, but only one thread of a gthread process; and gthread
  keeps connections alive for clients that reuse them (the batch agent, zeep's session).
- gevent (not a dependency; measured with gevent 26.9 from PyPI installed by hand, which
  ``bench/workers.py`` reports as not measured when absent) is no faster on the content
  workload and clearly slower on the mixed one: CPU-bound work (a 1,000-item page, signing, the
  digest pass over a large document) runs without yielding and stalls every other request of
  the worker, and psycopg would need cooperative waiting to be trusted under it.
"""

from gateway.config import Settings
from gateway.serving import gunicorn_options

globals().update(gunicorn_options(Settings.from_env()))
