{#- Bike counts by counter x period (Paris: hours; Montpellier: days), counters placed by
    coordinates (int_compteurs_velo_localises).
    Incremental: the portals publish a sliding window (Paris: the last 13 months), so each build takes
    only the rows loaded since the last one and rewrites their (source, counter, period) keys
    (delete+insert): a republished period is corrected, and the periods that left the portal's
    window stay here. `dbt build --full-refresh` (param `full_refresh` of transform_warehouse)
    rebuilds it from the raw tables alone. -#}
{{ config(
    materialized='incremental',
    unique_key=['source', 'id_compteur', 'debut_periode'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with comptages as (
    select 'velo_paris' as source, id_compteur, debut_periode, fin_periode, comptage, _loaded_at
    from {{ ref('stg_velo_paris__comptages') }}
    union all
    select 'velo_montpellier', id_compteur, debut_periode, fin_periode, comptage, _loaded_at
    from {{ ref('stg_velo_montpellier__comptages') }}
),

nouveaux as (
    {#- per source: loads of two sources may commit out of order, never two loads of one source -#}
    select comptages.* from comptages
    {% if is_incremental() %}
    left join (select source, max(_loaded_at) as dernier_chargement from {{ this }} group by source) as deja
        on comptages.source = deja.source
    where deja.dernier_chargement is null or comptages._loaded_at > deja.dernier_chargement
    {% endif %}
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
    from nouveaux as comptages
    left join compteurs
        on comptages.source = compteurs.source
        and comptages.id_compteur = compteurs.id_compteur
    left join territoire
        on compteurs.code_commune = territoire.code_commune
    left join departements
        on compteurs.code_departement = departements.code_departement
)

select * from final
