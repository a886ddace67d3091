"""The suites as code: every check is explained in French, rules come from the catalog (no database)."""

from __future__ import annotations

import dataclasses
from datetime import date

from territoire.datasets import load_datasets
from territoire.quality import suites
from territoire.quality.gate import expectation_parameters


def test_every_expectation_and_rule_is_explained_in_french():
    for dataset in load_datasets().values():
        for expectation in suites.SUITES[dataset.id](dataset):
            meta = expectation.meta or {}
            assert len(meta.get("explication", "")) > 15, (dataset.id, expectation.expectation_type)
            for rule in meta.get("regles", []):
                assert len(rule["explication"]) > 15, (dataset.id, rule)


def test_catalog_secrecy_and_personal_columns_become_checks():
    dataset = load_datasets()["fct_consommation_electrique"]
    assert dataset.secrecy, "the catalog declares a secrecy rule for the Enedis mart"
    rules = {r.name: r for r in suites.secrecy_rules(dataset)}
    rule = rules["secret_statistique_1"]
    count = dataset.secrecy[0]["count_column"]
    assert f'coalesce("{count}" < {float(dataset.secrecy[0]["threshold"])}, true)' in rule.condition
    personal = suites.personal_checks(dataset)[0]
    assert all(f"'{c}'" in personal.unexpected_rows_query for c in dataset.personal_columns)


def test_coordinate_rules_split_flagged_points_into_warnings():
    dataset = load_datasets()["fct_points_de_charge"]
    levels = {r.name: r.level for r in suites.coordinate_rules(dataset)}
    assert levels["longitude_differente_latitude"] == "error"
    assert levels["longitude_differente_latitude_signalees"] == "warning"
    plain = dataclasses.replace(dataset, quality={"coordinates": {"longitude": "x", "latitude": "y"}})
    assert {r.level for r in suites.coordinate_rules(plain)} == {"error"}


class _NoPublishedTable:
    def execute(self, sql, params=None):
        class R:
            def fetchone(self):
                return (False,)
        return R()


def test_freshness_and_completeness_parameters():
    datasets = load_datasets()
    day = date(2026, 3, 1)
    irve = expectation_parameters(_NoPublishedTable(), datasets["fct_points_de_charge"], day)
    assert irve["min_row_count"] == 0 and irve["freshness_min"] == "2025-12-31"
    cog = expectation_parameters(_NoPublishedTable(), datasets["dim_territoire"], day)
    assert cog["freshness_min"] == 2025
