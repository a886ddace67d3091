"""`python -m territoire.publication <command>`: the publication's maintenance commands.

    catalogue             rebuild catalogue.jsonld / catalogue.ttl from the published datasets
    docs                  generate the dbt docs into <publication>/docs/
    analysts              create or repair the analyst roles (password: TERRITOIRE_ANALYST_PASSWORD)
    push [<dataset> ...]  push datasets that declare `portal:` to the udata portal (all if none given)

Each prints what it did and exits 1 with the error's message on failure.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m territoire.publication", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("catalogue", help="rebuild the DCAT-AP catalogue")
    sub.add_parser("docs", help="publish the dbt docs")
    p = sub.add_parser("analysts", help="create or repair the analyst roles")
    p.add_argument("--login", help="login role name (default TERRITOIRE_ANALYST_USER or 'analyste')")
    p = sub.add_parser("push", help="push datasets to the udata portal")
    p.add_argument("datasets", nargs="*")
    args = parser.parse_args(argv)
    try:
        if args.command == "catalogue":
            from territoire.publication.dcat import write_catalogue

            for path in write_catalogue():
                print(path)
        elif args.command == "docs":
            from territoire.publication.dbt_docs import publish_dbt_docs

            print(publish_dbt_docs())
        elif args.command == "analysts":
            from territoire.publication.roles import ensure_analyst_roles

            access = ensure_analyst_roles(login=args.login)
            print(f"group role {access.group_role} ready in database {access.database}; login role: "
                  f"{access.login_role or 'not managed (TERRITOIRE_ANALYST_PASSWORD unset)'}")
        elif args.command == "push":
            from territoire.publication.portal import push_all, push_dataset

            results = [push_dataset(d) for d in args.datasets] if args.datasets else push_all()
            if not results:
                print("no published dataset declares `portal:` in catalog/datasets.yml: nothing to push")
            for r in results:
                print(f"{r.dataset_id}: portal id {r.portal_id} ({'created' if r.created else 'found'}); "
                      f"resources created {len(r.resources_created)}, updated {len(r.resources_updated)}, "
                      f"unchanged {len(r.resources_unchanged)}")
    except Exception as exc:  # noqa: BLE001 - a command line: the message is the report
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
