"""The API's reference page, `/api/docs`: the OpenAPI document rendered by the server, in the portal's
layout. No script and nothing fetched from another host (FastAPI's Swagger UI loads from a CDN: a
blank page without the internet, and not checked for accessibility); the machine-readable document
stays at `/api/openapi.json` for tools that want it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

TAG_TITLES = {"jeux de données": "Jeux de données", "lignes": "Lignes : filtres, agrégats, téléchargements",
              "territoires": "Territoires", "erreurs": "Erreurs"}
WHERE = {"path": "chemin", "query": "paramètre d'URL", "header": "en-tête"}


@dataclass
class Parameter:
    name: str
    where: str
    required: bool
    kind: str
    description: str


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    description: str
    parameters: list[Parameter]
    responses: list[tuple[str, str]]
    example: str
    anchor: str


@dataclass
class Group:
    title: str
    operations: list[Operation] = field(default_factory=list)


def _kind(schema: dict, components: dict) -> str:
    """A parameter's type in a few words: `integer ≤ 10000`, `string (une de : a, b)`."""
    options = schema.get("anyOf") or [schema]
    kinds = [o for o in options if o.get("type") != "null"] or [schema]
    s = kinds[0]
    if "$ref" in s:  # an enum of its own (`#/components/schemas/Niveau`)
        s = components.get(s["$ref"].rsplit("/", 1)[-1], {})
    text = s.get("type") or ("string" if "enum" in s else "")
    if "enum" in s:
        text += f" (une de : {', '.join(map(str, s['enum'][:12]))}{' …' if len(s['enum']) > 12 else ''})"
    if "maximum" in s:
        text += f" ≤ {s['maximum']}"
    if "default" in schema and schema["default"] is not None:
        text += f", défaut {schema['default']}"
    return text


EXAMPLES = {"niveau": "commune", "code": "90010", "slug": "colonne-inconnue"}


def _example(path: str, parameters: list[dict], base: str) -> str:
    """A ready-to-copy curl command: path parameters filled with an example or their first allowed value."""
    url = path
    for p in parameters:
        if p["in"] == "path":
            value = EXAMPLES.get(p["name"]) or (p.get("schema", {}).get("enum") or [f"<{p['name']}>"])[0]
            url = url.replace("{" + p["name"] + "}", str(value))
    if path.endswith("/search"):
        url += "?q=recharge"
    return f"curl '{base.rstrip('/')}{url}'"


def groups(document: dict, base: str) -> list[Group]:
    """The operations of `document`, grouped by tag in the document's order."""
    found: dict[str, Group] = {}
    components = document.get("components", {}).get("schemas", {})
    for path, item in document.get("paths", {}).items():
        for method, op in item.items():
            tag = (op.get("tags") or ["autres"])[0]
            group = found.setdefault(tag, Group(TAG_TITLES.get(tag, tag.capitalize())))
            params = op.get("parameters", [])
            group.operations.append(Operation(
                method.upper(), path, op.get("summary", ""), op.get("description", ""),
                [Parameter(p["name"], WHERE.get(p["in"], p["in"]), bool(p.get("required")), _kind(p.get("schema", {}), components),
                           p.get("description", "")) for p in params],
                [(code, r.get("description", "")) for code, r in sorted(op.get("responses", {}).items())],
                _example(path, params, base), op.get("operationId", f"{method}-{path}").replace("_", "-")))
    return list(found.values())


@router.get("/api/docs", response_class=HTMLResponse)
def reference(request: Request) -> HTMLResponse:
    from territoire.portal.routes import page

    document = request.app.openapi()
    return page("api.html", "/api/docs", page_title="API : documentation", info=document.get("info", {}),
                groups=groups(document, str(request.base_url)))
