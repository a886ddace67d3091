{#- The additive measures the indicators are built from, in one long table at the finest level
    each source allows: `niveau_source` commune or departement. Rows without a territorial code
    (reported in territoire_codes_non_resolus) are left out. `categorie` splits a measure (waste
    type, pollutant); 'total' when it has none.

    Electricity: the commune totals are the TRUE sums (masked IRIS included), which the secondary
    suppression of int_consommation_iris_secret makes safe to publish; a commune below the secrecy
    threshold as a whole is left out, at its own level and in the totals above it. -#}
with consommation as (
    select * from {{ ref('int_consommation_iris_secret') }}
    where not commune_sous_seuil
),

points_de_charge as (
    select * from {{ ref('fct_points_de_charge') }}
),

arrets as (
    select * from {{ ref('fct_arrets_transport') }}
),

departs as (
    select * from {{ ref('fct_departs_transport') }}
),

annee_offre_transport as (
    -- the timetable's year: the first day of its calendar
    select extract(year from min(date_debut))::integer as annee from {{ ref('int_services_transport_semaine') }}
),

tonnages as (
    select * from {{ ref('fct_tonnages_dechets') }}
),

budgets as (
    select * from {{ ref('fct_budgets_communes') }}
),

air as (
    select * from {{ ref('fct_mesures_qualite_air') }}
),

mesures as (
    select 'commune' as niveau_source, code_commune as code_territoire, 'consommation_electrique_residentielle_mwh' as mesure,
        'total' as categorie, annee, sum(consommation_totale_mwh) as valeur, 'enedis' as source
    from consommation
    where code_commune is not null
    group by code_commune, annee

    union all
    select 'commune', code_commune, 'logements_enedis', 'total', annee, sum(nombre_logements), 'enedis'
    from consommation
    where code_commune is not null
    group by code_commune, annee

    union all
    -- the snapshot's year: the latest update of any point in the file
    select 'commune', code_commune, 'points_de_charge', 'total',
        (select extract(year from max(date_maj))::integer from points_de_charge), count(*), 'irve'
    from points_de_charge
    where code_commune is not null
    group by code_commune

    union all
    select 'commune', code_commune, 'puissance_installee_kw', 'total',
        (select extract(year from max(date_maj))::integer from points_de_charge), sum(puissance_nominale_kw), 'irve'
    from points_de_charge
    where code_commune is not null
    group by code_commune

    union all
    -- stops placed in a commune count there; stops placed in a département only count from that level up
    select
        case when code_commune is null then 'departement' else 'commune' end,
        coalesce(code_commune, code_departement), 'arrets_transport', 'total',
        (select annee from annee_offre_transport), count(*), 'transport'
    from arrets
    where code_departement is not null
    group by 1, 2

    union all
    select
        case when code_commune is null then 'departement' else 'commune' end,
        coalesce(code_commune, code_departement), 'departs_hebdomadaires', 'total',
        (select annee from annee_offre_transport), sum(jours_par_semaine), 'transport'
    from departs
    where code_departement is not null
    group by 1, 2

    union all
    select 'departement', code_departement, 'tonnage_decheteries_t', code_type_dechet, annee, sum(tonnage_t), 'sinoe'
    from tonnages
    where code_departement is not null
    group by code_departement, code_type_dechet, annee

    union all
    select 'departement', code_departement, 'tonnage_decheteries_t', 'total', annee, sum(tonnage_t), 'sinoe'
    from tonnages
    where code_departement is not null
    group by code_departement, annee

    union all
    -- budget principal only: the annex budgets' flows with the principal one would count twice
    select 'commune', code_commune, 'encours_dette_euros', 'total', exercice, sum(montant_euros), 'ofgl'
    from budgets
    where code_commune is not null and est_budget_principal and agregat = 'Encours de dette'
    group by code_commune, exercice

    union all
    select 'commune', code_commune, 'depenses_investissement_euros', 'total', exercice, sum(montant_euros), 'ofgl'
    from budgets
    where code_commune is not null and est_budget_principal and agregat = 'Dépenses d''investissement'
    group by code_commune, exercice

    union all
    -- validated annual means only; sum and count so that averages roll up to any level
    select 'commune', code_commune, 'somme_moyennes_annuelles_ug_m3', polluant, annee, sum(valeur_ug_m3), 'atmo_occitanie'
    from air
    where code_commune is not null and periodicite = 'annuelle' and est_validee and valeur_ug_m3 is not null
    group by code_commune, polluant, annee

    union all
    select 'commune', code_commune, 'nombre_moyennes_annuelles', polluant, annee, count(*), 'atmo_occitanie'
    from air
    where code_commune is not null and periodicite = 'annuelle' and est_validee and valeur_ug_m3 is not null
    group by code_commune, polluant, annee
),

final as (
    select * from mesures
    where annee is not null
)

select * from final
