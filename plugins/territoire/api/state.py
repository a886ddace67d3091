"""What every request handler shares: settings, the connection pool and the published catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from territoire.api.catalog import PublishedCatalog
from territoire.api.config import ApiConfig
from territoire.api.db import Pool


@dataclass
class ApiState:
    config: ApiConfig
    pool: Pool
    catalog: PublishedCatalog


def get_state(request: Request) -> ApiState:
    return request.app.state.api


def base_url(request: Request, state: ApiState) -> str:
    return (state.config.public_url or str(request.base_url)).rstrip("/")


State = Annotated[ApiState, Depends(get_state)]
