"""The open tabular API (FastAPI) over the `published` schema; `create_app()` builds it."""

from territoire.api.app import create_app

__all__ = ["create_app"]
