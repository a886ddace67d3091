{#- Populations légales at the commune level of the current COG.
    INSEE gives Paris, Lyon and Marseille by municipal arrondissement (ARM codes 75101.., 69381..,
    13201..): they are summed into their parent commune (75056, 69123, 13055) through COMPARENT.
    Mayotte comes in a file of its own. -#}
with populations as (
    select * from {{ ref('stg_cog__populations') }}
),

populations_mayotte as (
    select * from {{ ref('stg_cog__populations_mayotte') }}
),

arrondissements_municipaux as (
    select code_commune, code_commune_parente
    from {{ ref('stg_cog__communes') }}
    where type_commune = 'ARM'
),

all_rows as (
    select
        coalesce(arm.code_commune_parente, p.code_commune) as code_commune,
        p.population_municipale,
        p.population_comptee_a_part,
        p.population_totale,
        arm.code_commune is not null as depuis_arrondissements
    from populations as p
    left join arrondissements_municipaux as arm
        on p.code_commune = arm.code_commune

    union all

    select
        code_commune,
        population_municipale,
        population_comptee_a_part,
        population_totale,
        false as depuis_arrondissements
    from populations_mayotte
),

final as (
    select
        code_commune,
        sum(population_municipale)::integer as population_municipale,
        sum(population_comptee_a_part)::integer as population_comptee_a_part,
        sum(population_totale)::integer as population_totale,
        bool_or(depuis_arrondissements) as population_depuis_arrondissements
    from all_rows
    group by code_commune
)

select * from final
