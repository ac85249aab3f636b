"""A local model server for both families (``python serve.py MODEL_DIR``; see serve.py and the README).

- ``config``: settings, the checkpoints to serve and how they load (the infer scripts' own loading calls);
- ``worker``: one worker per model that owns it, with a queue and dynamic batching;
- ``app``: the FastAPI app (routes, limits, bearer token, metrics); ``metrics``: the Prometheus metrics.
"""

from serving.app import create_app
from serving.config import ModelSpec, ServerSettings, load_served, parse_model_arg

__all__ = ["ModelSpec", "ServerSettings", "create_app", "load_served", "parse_model_arg"]
