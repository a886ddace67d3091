"""What each problem type means (the `type` of every problem document points here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from territoire.api.models import PROBLEMS, ProblemType
from territoire.api.problems import PROBLEM_TYPES, TYPE_BASE, ProblemError

router = APIRouter(prefix="/api/problemes", tags=["erreurs"], responses={404: PROBLEMS[404]})


@router.get("/{slug}", response_model=ProblemType, summary="What a problem type means and what to do")
def problem_type(slug: Annotated[str, Path(max_length=100)]) -> dict:
    if slug not in PROBLEM_TYPES:
        raise ProblemError(404, "introuvable", ("Type de problème inconnu", "Unknown problem type"),
                           (f"{slug!r} n'est pas un type de problème de cette API.",
                            f"{slug!r} is not a problem type of this API."),
                           parameter="slug", allowed=sorted(PROBLEM_TYPES))
    fr, en = PROBLEM_TYPES[slug]
    return {"type": TYPE_BASE + slug, "fr": fr, "en": en}
