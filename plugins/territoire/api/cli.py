"""`territoire serve` (the API and the portal) and `territoire api-role` (the API's read-only role)."""

from __future__ import annotations

import argparse
import os
import sys

EXIT_OK = 0
EXIT_ERROR = 1


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from territoire import warehouse
    from territoire.api import create_app
    from territoire.api.config import ApiConfig
    from territoire.api.role import ensure_api_role

    config = ApiConfig.from_env()
    if not config.database_url:
        # No login of the API's role given (a laptop, `make serve`): the warehouse's owner creates or
        # repairs the role, and the API logs in as that role on the same server (trust authentication).
        role = ensure_api_role(warehouse.get_url())
        print(f"territoire serve: reading the warehouse as role {role} (read-only)", file=sys.stderr)
    app = create_app(config)
    print(f"territoire serve: API on http://{args.host}:{args.port}/api/docs", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info",
                proxy_headers=bool(args.forwarded_allow_ips), forwarded_allow_ips=args.forwarded_allow_ips)
    return EXIT_OK


def cmd_api_role(args: argparse.Namespace) -> int:
    from territoire.api.role import RoleLimits, ensure_api_role

    password = os.environ.get("TERRITOIRE_API_DB_PASSWORD") or None
    limits = RoleLimits(statement_timeout=args.statement_timeout, work_mem=args.work_mem,
                        connection_limit=args.connection_limit)
    role = ensure_api_role(password=password, limits=limits)
    state = "with the password of TERRITOIRE_API_DB_PASSWORD" if password else "without a password (trust/peer)"
    print(f"API role {role} ready {state}: read-only, statement_timeout {limits.statement_timeout}, "
          f"work_mem {limits.work_mem}, connection limit {limits.connection_limit}")
    return EXIT_OK


def register(sub, add_command) -> None:
    p = add_command(sub, "serve", cmd_serve, "serve the open API (/api) and the portal on the warehouse")
    p.add_argument("--host", default=os.environ.get("TERRITOIRE_API_HOST", "127.0.0.1"),
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=int(os.environ.get("TERRITOIRE_API_PORT", "8000")),
                   help="port (default 8000)")
    p.add_argument("--forwarded-allow-ips", default=os.environ.get("TERRITOIRE_API_FORWARDED_ALLOW_IPS"),
                   help="addresses of the reverse proxies whose X-Forwarded-For is trusted (the rate limit then "
                        "counts each real client); default: none")
    p = add_command(sub, "api-role", cmd_api_role,
                    "create or repair the API's read-only role (password: TERRITOIRE_API_DB_PASSWORD)")
    p.add_argument("--statement-timeout", default="15s", help="longest query of an API request (default 15s)")
    p.add_argument("--work-mem", default="32MB", help="memory per sort or hash of a query (default 32MB)")
    p.add_argument("--connection-limit", type=int, default=20, help="connections the role may hold (default 20)")
