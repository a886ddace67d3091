"""What every request handler shares: settings, the connection pool and the published catalog."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from territoire.api.catalog import PublishedCatalog
from territoire.api.config import ApiConfig
from territoire.api.db import Pool
from territoire.api.formats import FormulaColumns


@dataclass
class ApiState:
    config: ApiConfig
    pool: Pool
    catalog: PublishedCatalog
    export_slots: threading.BoundedSemaphore = field(init=False)
    formula_columns: FormulaColumns = field(init=False)

    def __post_init__(self):
        self.export_slots = threading.BoundedSemaphore(max(1, min(self.config.max_exports, self.pool.size - 1)))
        self.formula_columns = FormulaColumns(self.pool)


async def get_state(request: Request) -> ApiState:
    # async: FastAPI would run a plain `def` dependency in a worker thread, a second thread hop per
    # request on top of the handler's own.
    return request.app.state.api


def base_url(request: Request, state: ApiState) -> str:
    return (state.config.public_url or str(request.base_url)).rstrip("/")


State = Annotated[ApiState, Depends(get_state)]
