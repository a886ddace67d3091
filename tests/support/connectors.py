"""Helpers for connector tests."""

from __future__ import annotations

from territoire.catalog import Location, Resource


def make_resource(connector: str, *, fmt: str = "csv", source_id: str = "src", name: str = "res",
                  profile: str = "demo", **location) -> Resource:
    """A catalog resource with one location (as `parse_catalog` would build it)."""
    return Resource(source_id=source_id, name=name, format=fmt,
                    locations={profile: Location(connector=connector, **location)})
