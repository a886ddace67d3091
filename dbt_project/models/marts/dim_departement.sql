with departements as (
    select * from {{ ref('stg_cog__departements') }}
),

communes as (
    select * from {{ ref('dim_territoire') }}
),

populations as (
    select
        code_departement,
        count(*) as nombre_communes,
        sum(population_municipale) as population_municipale
    from communes
    group by code_departement
),

superficies as (
    select code, superficie_km2 from {{ ref('int_territoires_superficies') }}
    where niveau = 'departement'
),

final as (
    select
        departements.code_departement,
        departements.nom_departement,
        departements.code_region,
        departements.code_commune_chef_lieu,
        populations.nombre_communes,
        populations.population_municipale,
        superficies.superficie_km2
    from departements
    left join populations
        on departements.code_departement = populations.code_departement
    left join superficies
        on departements.code_departement = superficies.code
)

select * from final
