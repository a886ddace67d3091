"""Statistical secrecy and personal columns, checked by the gate on a SYNTHETIC Enedis-shaped mart.

The rows are invented (labelled synthetic) so that each rule can be broken on purpose; the suite
and checkpoint are the committed ones of `fct_consommation_electrique`.
"""

from __future__ import annotations

from datetime import date

import pytest

from territoire import warehouse
from tests.support.gate import failing

pytestmark = pytest.mark.integration

SYNTHETIC = """
create table audit.dim_territoire as
select * from (values ('69123', '200046977', '69', '84'), ('69001', '200046977', '69', '84'))
    as t (code_commune, code_epci, code_departement, code_region);
create table audit.fct_consommation_electrique (
    annee integer, code_iris text, nom_iris text, code_commune text, code_epci text, code_departement text,
    code_region text, code_commune_source text, code_commune_iris text, nombre_adresses bigint,
    nombre_logements bigint, consommation_totale_mwh numeric, secret_statistique text, _loaded_at timestamptz);
insert into audit.fct_consommation_electrique
select %(year)s, '69123' || lpad(i::text, 4, '0'), 'IRIS synthétique ' || i, '69123', '200046977', '69', '84',
       '69123', '69123', 5, 10 + i, 100.5 + i, null, now()
from generate_series(1, 40) as i;
-- below the secrecy threshold (primary), and the smallest other IRIS of the commune (secondary), masked
-- as int_consommation_iris_secret does: the commune total minus the published IRIS gives only their sum
insert into audit.fct_consommation_electrique
values (%(year)s, '691230099', 'IRIS synthétique masqué', '69123', '200046977', '69', '84', '69123', '69123',
        2, 4, null, 'primaire', now());
update audit.fct_consommation_electrique set consommation_totale_mwh = null, secret_statistique = 'secondaire'
where code_iris = '691230001';
"""


@pytest.fixture
def gate_env(fresh_database, gate_workspace):
    with warehouse.transaction(fresh_database) as conn:
        conn.execute(SYNTHETIC.replace("%(year)s", str(date.today().year - 1)))
    return fresh_database


def test_secrecy_and_personal_columns(gate_env):
    from territoire.quality.context import get_context
    from territoire.quality.gate import audit

    url = gate_env
    context = get_context(url)
    assert audit("fct_consommation_electrique", url, context=context).verdict == "passed"

    with warehouse.transaction(url) as conn:  # secondary suppression forgotten: recomputable by subtraction
        conn.execute("update audit.fct_consommation_electrique set consommation_totale_mwh = 101.5, "
                     "secret_statistique = null where code_iris = '691230001'")
    outcome = audit("fct_consommation_electrique", url, context=context)
    assert outcome.verdict == "blocked" and failing(outcome) == {"secret_secondaire_1": "error"}
    assert outcome.failed[0].unexpected_count == 1 and "total publié" in outcome.failed[0].explication
    with warehouse.transaction(url) as conn:
        conn.execute("update audit.fct_consommation_electrique set consommation_totale_mwh = null, "
                     "secret_statistique = 'secondaire' where code_iris = '691230001'")

    with warehouse.transaction(url) as conn:  # a model that forgot the secrecy macro
        conn.execute("update audit.fct_consommation_electrique set consommation_totale_mwh = 12.5 "
                     "where code_iris = '691230099'")
    outcome = audit("fct_consommation_electrique", url, context=context)
    # shown below the threshold; flagged but shown; and the secondary cell is now alone, recomputable
    assert outcome.verdict == "blocked" and failing(outcome) == {
        "secret_statistique_1": "error", "secret_statistique_1_signale": "error", "secret_secondaire_1": "error"}
    check = next(c for c in outcome.failed if c.name == "secret_statistique_1")
    assert check.unexpected_count == 1 and check.examples == ["4"] and "secret statistique" in check.explication.lower()

    with warehouse.transaction(url) as conn:  # masked again, but the address column leaked into the mart
        conn.execute("update audit.fct_consommation_electrique set consommation_totale_mwh = null "
                     "where code_iris = '691230099'")
        conn.execute("alter table audit.fct_consommation_electrique add column adresse text")
    outcome = audit("fct_consommation_electrique", url, context=context)
    assert outcome.verdict == "blocked"
    personal = [c for c in outcome.failed if c.column == "adresse"]
    assert personal and "personnelle" in personal[0].explication and personal[0].level == "error"
