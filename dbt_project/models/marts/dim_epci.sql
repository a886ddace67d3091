with epci as (
    select * from {{ ref('stg_cog__epci') }}
),

communes as (
    select * from {{ ref('dim_territoire') }}
),

members as (
    select
        code_epci,
        count(*) as nombre_communes,
        sum(population_municipale) as population_municipale,
        count(distinct code_departement) as nombre_departements
    from communes
    where code_epci is not null
    group by code_epci
),

final as (
    select
        epci.code_epci,
        epci.nom_epci,
        epci.type_epci,
        epci.mode_financement,
        members.nombre_communes,
        members.population_municipale,
        members.nombre_departements
    from epci
    left join members
        on epci.code_epci = members.code_epci
)

select * from final
