"""Domain rules of the suites, on SYNTHETIC marts shaped like the real ones: a negative pollutant
concentration blocks the air-quality dataset, a named beneficiary without SIRET blocks the subsidies,
a negative amount outside the OFGL balances blocks the budgets. Each mart first passes as built, then
one row is broken on purpose."""

from __future__ import annotations

import pytest

from territoire import warehouse
from tests.support.gate import failing

pytestmark = pytest.mark.integration

SYNTHETIC = """
create table audit.dim_territoire as
select * from (values ('31555', '243100518', '31', '76'), ('46042', '200023737', '46', '76'))
    as t (code_commune, code_epci, code_departement, code_region);
create table audit.fct_mesures_qualite_air (
    code_station text, polluant text, periodicite text, debut_periode timestamptz, fin_periode timestamptz,
    annee integer, nom_station text, typologie text, influence text, code_commune text, code_epci text,
    code_departement text, code_region text, code_commune_source text, valeur numeric, unite text,
    valeur_ug_m3 numeric, est_validee boolean, longitude double precision, latitude double precision,
    _loaded_at timestamptz);
insert into audit.fct_mesures_qualite_air
select 'FR50048', 'NO2', 'mensuelle', t, t + interval '1 month', extract(year from t)::integer,
       'Station synthétique', 'Urbaine', 'Trafic', '31555', '243100518', '31', '76', '31555', 20 + i, 'ug.m-3',
       20 + i, true, 1.4496, 43.574, now()
from generate_series(1, 12) as i, lateral (select date_trunc('month', now()) - make_interval(months => i) as t) m;
create table audit.fct_subventions (
    fichier text, ligne_source integer, nom_attribuant text, id_attribuant text, siren_attribuant text,
    nom_beneficiaire text, id_beneficiaire text, nom_beneficiaire_masque boolean, objet text,
    montant_euros numeric, nature text, date_convention date, annee integer, debut_versement date,
    fin_versement date, code_departement text, code_region text, _loaded_at timestamptz);
insert into audit.fct_subventions values
    ('lot', 2, 'Département synthétique', '22460001500017', '224600015', 'Association synthétique',
     '44259700100035', false, 'objet', 1000, 'aide en numéraire', current_date, 2025, null, null, '46', '76', now()),
    ('lot', 3, 'Département synthétique', '22460001500017', '224600015', null, null, true, 'objet', 500,
     'aide en numéraire', current_date, 2025, null, null, '46', '76', now());
"""


@pytest.fixture
def gate_env(fresh_database, gate_workspace):
    with warehouse.transaction(fresh_database) as conn:
        conn.execute(SYNTHETIC)
    return fresh_database


def test_negative_concentration_and_named_person_are_blocked(gate_env):
    from territoire.quality.context import get_context
    from territoire.quality.gate import audit

    url = gate_env
    context = get_context(url)
    assert audit("fct_mesures_qualite_air", url, context=context).verdict == "passed"
    assert audit("fct_subventions", url, context=context).verdict == "passed"

    with warehouse.transaction(url) as conn:
        conn.execute("update audit.fct_mesures_qualite_air set valeur = -0.4, valeur_ug_m3 = -0.4 "
                     "where debut_periode = (select min(debut_periode) from audit.fct_mesures_qualite_air)")
        conn.execute("update audit.fct_subventions set nom_beneficiaire = 'Jeanne Synthétique' where ligne_source = 3")
    air = audit("fct_mesures_qualite_air", url, context=context)
    assert air.verdict == "blocked"
    assert {"valeur_positif", "valeur_ug_m3_positif", "valeur_ug_m3_plausible"} <= set(failing(air))
    negative = next(c for c in air.failed if c.name == "valeur_positif")
    assert negative.unexpected_count == 1 and negative.examples == ["-0.4"]

    subsidies = audit("fct_subventions", url, context=context)
    assert subsidies.verdict == "blocked" and failing(subsidies) == {"nom_beneficiaire_donnee_personnelle": "error"}
    assert "personne physique" in subsidies.failed[0].explication
