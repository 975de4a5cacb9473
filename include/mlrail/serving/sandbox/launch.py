"""``python -m mlrail.serving.sandbox.launch WORKERS [CPUS]``: one sandbox server,
configured by the ``MLRAIL_SERVE_*`` variables its starter set
(mlrail.serving.sandbox.servers). ``CPUS`` (``0,2``) pins it, before TensorFlow starts a
thread: every thread and worker process it starts inherits the pinning."""

import os
import sys

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2]:
        os.sched_setaffinity(0, {int(cpu) for cpu in sys.argv[2].split(",")})

    from mlrail.serving.config import ServerConfig
    from mlrail.serving.server import serve

    serve(ServerConfig.from_serve_env(), workers=int(sys.argv[1]))
