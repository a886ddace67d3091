{#- Residential electricity by IRIS x year (Enedis, summed over addresses) with the TRUE consumption
    and the statistical-secrecy decision of each cell. Not published: fct_consommation_electrique
    masks the cells this model marks, and the indicators sum the true values of the communes that
    may be shown (int_indicateurs_mesures).

    The commune comes from the IRIS code's first five characters when it is a code of the COG (Lyon's
    IRIS carry the arrondissement municipal, 69381..69389, mapped to Lyon 69123), else from the
    published commune code; both go through int_communes_mapped. One name per IRIS code: the name of
    its most recent year (Enedis changes accents and hyphens from year to year).

    Secret statistique (rule declared in catalog/datasets.yml, docs/publication.md):
    - primary: an IRIS summed over fewer than `seuil` dwellings is masked;
    - secondary: the commune total is published (indicators), so within each (year, commune) the masked
      cells must not be recoverable by subtraction: when a commune has masked cells, the smallest other
      IRIS are masked too until the masked cells are at least two and hold at least `seuil` dwellings
      together (then the subtraction gives only an aggregate the rule allows);
    - a commune whose IRIS all together hold fewer than `seuil` dwellings is below the threshold itself:
      `commune_sous_seuil`, its total is not published either (nor counted in the EPCI, département
      and région totals, which would reveal it by subtraction in turn).

    Incremental: a new snapshot rewrites every year it carries (delete+insert on `annee`, so an IRIS
    that disappears from a republished year disappears here too); years it no longer carries are
    kept. The grain stays (annee, code_iris). -#}
{{ config(
    materialized='incremental',
    unique_key='annee',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

{%- set seuil = 10 %}

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

noms_iris as (
    select distinct on (code_iris) code_iris, nom_iris
    from consommations
    where nom_iris is not null
    order by code_iris, annee desc, nom_iris
),

par_iris as (
    select
        annee,
        code_iris,
        max(code_commune_source) as code_commune_source,
        count(*) as nombre_adresses,
        sum(nombre_logements) as nombre_logements,
        sum(consommation_totale_mwh) as consommation_totale_mwh,
        max(_loaded_at) as _loaded_at
    from consommations
    group by annee, code_iris
),

places as (
    select
        par_iris.annee,
        par_iris.code_iris,
        noms_iris.nom_iris,
        territoire.code_commune,
        territoire.code_epci,
        territoire.code_departement,
        territoire.code_region,
        par_iris.code_commune_source,
        left(par_iris.code_iris, 5) as code_commune_iris,
        par_iris.nombre_adresses,
        par_iris.nombre_logements,
        par_iris.consommation_totale_mwh,
        -- a null count is below the threshold: when the number of dwellings is unknown, nothing is shown
        coalesce(par_iris.nombre_logements < {{ seuil }}, true) as primaire,
        par_iris._loaded_at
    from par_iris
    left join noms_iris
        on par_iris.code_iris = noms_iris.code_iris
    left join communes_mapped as par_code_iris
        on left(par_iris.code_iris, 5) = par_code_iris.code_commune_source
    left join communes_mapped as par_code_commune
        on par_iris.code_commune_source = par_code_commune.code_commune_source
    left join territoire
        on coalesce(par_code_iris.code_commune, par_code_commune.code_commune) = territoire.code_commune
),

-- per (year, commune): the primary cells, and the other cells ranked smallest first with the
-- dwellings of the cells ranked before them
classes as (
    select
        places.*,
        coalesce(code_commune, code_commune_source) as groupe,
        count(*) filter (where primaire) over commune as primaires,
        coalesce(sum(nombre_logements) filter (where primaire) over commune, 0) as logements_primaires,
        coalesce(sum(nombre_logements) over commune, 0) as logements_commune,
        row_number() over candidats as rang_candidat,
        coalesce(sum(nombre_logements) over (candidats rows between unbounded preceding and 1 preceding), 0)
            as logements_candidats_avant
    from places
    window
        commune as (partition by annee, coalesce(code_commune, code_commune_source)),
        candidats as (partition by annee, coalesce(code_commune, code_commune_source), primaire
                      order by nombre_logements, code_iris)
),

final as (
    select
        annee,
        code_iris,
        nom_iris,
        code_commune,
        code_epci,
        code_departement,
        code_region,
        code_commune_source,
        code_commune_iris,
        nombre_adresses,
        nombre_logements,
        consommation_totale_mwh,
        case
            when primaire then 'primaire'
            -- a candidate is needed while the masked cells before it are fewer than two or hold
            -- fewer than `seuil` dwellings
            when primaires > 0
                and (primaires + rang_candidat - 1 < 2
                     or logements_primaires + logements_candidats_avant < {{ seuil }})
                then 'secondaire'
        end as secret_statistique,
        logements_commune < {{ seuil }} as commune_sous_seuil,
        _loaded_at
    from classes
)

select * from final
