"""``python -m mlrail.serving.sandbox.launch WORKERS``: one sandbox server, configured by the
``MLRAIL_SERVE_*`` variables its starter set (mlrail.serving.sandbox.servers)."""

import sys

from mlrail.serving.config import ServerConfig
from mlrail.serving.server import serve

if __name__ == "__main__":
    serve(ServerConfig.from_serve_env(), workers=int(sys.argv[1]))
