"""The public portal: server-rendered pages in French over the `published` schema.

`territoire.portal.router` (a FastAPI APIRouter) is included by the open API's `create_app()`;
it is imported lazily so that the quality report can use the shared templates and charts without
loading FastAPI.
"""


def __getattr__(name: str):
    if name == "router":
        from territoire.portal.routes import router

        return router
    raise AttributeError(name)
