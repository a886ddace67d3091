"""Territory endpoints: a commune, EPCI, département or région, its indicators and its rows."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Request

from territoire.api import territories
from territoire.api.models import PROBLEMS, Territory
from territoire.api.state import State, base_url

router = APIRouter(prefix="/api/territoires", tags=["territoires"], responses=PROBLEMS)


class Niveau(StrEnum):
    commune = "commune"
    epci = "epci"
    departement = "departement"
    region = "region"


Code = Annotated[str, Path(pattern=r"^[0-9A-Za-z]{1,15}$",
                           description="Official code (COG commune or département, SIREN of the EPCI, région)")]


@router.get("/{niveau}/{code}", response_model=Territory,
            summary="A territory: name, parents, indicators, and its rows in each dataset")
def territory(request: Request, state: State, niveau: Niveau, code: Code) -> dict:
    return territories.territory(state.catalog, base_url(request, state), niveau.value, code)
