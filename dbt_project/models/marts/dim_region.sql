with regions as (
    select * from {{ ref('stg_cog__regions') }}
),

communes as (
    select * from {{ ref('dim_territoire') }}
),

populations as (
    select
        code_region,
        count(distinct code_departement) as nombre_departements,
        count(*) as nombre_communes,
        sum(population_municipale) as population_municipale
    from communes
    group by code_region
),

final as (
    select
        regions.code_region,
        regions.nom_region,
        regions.code_commune_chef_lieu,
        populations.nombre_departements,
        populations.nombre_communes,
        populations.population_municipale
    from regions
    left join populations
        on regions.code_region = populations.code_region
)

select * from final
