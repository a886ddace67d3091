"""Territoire: the territorial open-data platform."""
