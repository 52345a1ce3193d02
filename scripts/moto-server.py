"""moto's server (same arguments as `moto_server`) with one request handled at a time.

moto checks a conditional write's precondition (S3 If-Match / If-None-Match, DynamoDB
condition expressions) and then writes, without a lock between the two: two concurrent
writers holding the same ETag can both succeed, and one update is lost. Real S3 and
DynamoDB never allow that, and flagedge's manifest and document writes rely on it, so the
tests run moto with each request atomic. Connections are still served on threads.
"""

import threading

import moto.server
from werkzeug.serving import run_simple

_one_at_a_time = threading.Lock()


def _atomic(app):
    def handle(environ, start_response):
        with _one_at_a_time:
            # The whole body is produced inside the lock: a lazy iterable could read state late.
            return list(app(environ, start_response))

    return handle


def _run_atomic(host, port, app, **options):
    run_simple(host, port, _atomic(app), **options)


moto.server.run_simple = _run_atomic

if __name__ == "__main__":
    moto.server.main()
