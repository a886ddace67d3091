{#- Bike counts by counter x period (Paris: hours; Montpellier: days), counters placed by
    coordinates (int_compteurs_velo_localises). -#}
with comptages as (
    select 'velo_paris' as source, id_compteur, debut_periode, fin_periode, comptage, _loaded_at
    from {{ ref('stg_velo_paris__comptages') }}
    union all
    select 'velo_montpellier', id_compteur, debut_periode, fin_periode, comptage, _loaded_at
    from {{ ref('stg_velo_montpellier__comptages') }}
),

compteurs as (
    select * from {{ ref('int_compteurs_velo_localises') }}
),

territoire as (
    select * from {{ ref('dim_territoire') }}
),

departements as (
    select * from {{ ref('dim_departement') }}
),

final as (
    select
        comptages.source,
        comptages.id_compteur,
        comptages.debut_periode,
        comptages.fin_periode,
        case when comptages.fin_periode - comptages.debut_periode = interval '1 hour' then 'heure' else 'jour' end
            as granularite,
        comptages.comptage,
        territoire.code_commune,
        territoire.code_epci,
        coalesce(territoire.code_departement, departements.code_departement) as code_departement,
        coalesce(territoire.code_region, departements.code_region) as code_region,
        compteurs.methode_localisation,
        comptages._loaded_at
    from comptages
    left join compteurs
        on comptages.source = compteurs.source
        and comptages.id_compteur = compteurs.id_compteur
    left join territoire
        on compteurs.code_commune = territoire.code_commune
    left join departements
        on compteurs.code_departement = departements.code_departement
)

select * from final
