{#- Residential electricity by commune x IRIS x year (Enedis, summed over addresses).
    The commune comes from the IRIS code's first five characters when it is a code of the COG (Lyon's
    IRIS carry the arrondissement municipal, 69381..69389, mapped to Lyon 69123), else from the
    published commune code; both go through int_communes_mapped.
    Incremental: a new snapshot rewrites every year it carries (delete+insert on `annee`, so an IRIS
    that disappears from a republished year disappears here too); years it no longer carries are
    kept. The grain stays (annee, code_iris), tested unique. -#}
{{ config(
    materialized='incremental',
    unique_key='annee',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with consommations as (
    select * from {{ ref('stg_enedis__consommations_residentielles') }}
    {% if is_incremental() %}
    where _loaded_at > (select coalesce(max(_loaded_at), '-infinity') from {{ this }})
    {% endif %}
),

communes_mapped as (
    select * from {{ ref('int_communes_mapped') }}
),

territoire as (
    select * from {{ ref('dim_territoire') }}
),

par_iris as (
    select
        annee,
        code_iris,
        max(nom_iris) as nom_iris,
        max(code_commune_source) as code_commune_source,
        count(*) as nombre_adresses,
        sum(nombre_logements) as nombre_logements,
        sum(consommation_totale_mwh) as consommation_totale_mwh,
        max(_loaded_at) as _loaded_at
    from consommations
    group by annee, code_iris
),

final as (
    select
        par_iris.annee,
        par_iris.code_iris,
        par_iris.nom_iris,
        territoire.code_commune,
        territoire.code_epci,
        territoire.code_departement,
        territoire.code_region,
        par_iris.code_commune_source,
        left(par_iris.code_iris, 5) as code_commune_iris,
        par_iris.nombre_adresses,
        par_iris.nombre_logements,
        -- secret statistique: no consumption summed over fewer than 10 dwellings (rule declared in
        -- catalog/datasets.yml, checked by the quality gate and before export; docs/publication.md)
        {{ statistical_secrecy('par_iris.nombre_logements', 10, ['par_iris.consommation_totale_mwh']) }},
        par_iris._loaded_at
    from par_iris
    left join communes_mapped as par_code_iris
        on left(par_iris.code_iris, 5) = par_code_iris.code_commune_source
    left join communes_mapped as par_code_commune
        on par_iris.code_commune_source = par_code_commune.code_commune_source
    left join territoire
        on coalesce(par_code_iris.code_commune, par_code_commune.code_commune) = territoire.code_commune
)

select * from final
