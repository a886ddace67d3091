{#- OFGL financial aggregates by commune x budget x aggregate x exercice. Amounts as published
    (negative values are legitimate for some aggregates, e.g. Flux net de dette). -#}
with agregats as (
    select * from {{ ref('stg_ofgl__agregats_communes') }}
),

communes_mapped as (
    select * from {{ ref('int_communes_mapped') }}
),

territoire as (
    select * from {{ ref('dim_territoire') }}
),

final as (
    select
        agregats.exercice,
        agregats.siret_budget,
        agregats.agregat,
        territoire.code_commune,
        territoire.code_epci,
        territoire.code_departement,
        territoire.code_region,
        agregats.code_commune_source,
        agregats.libelle_budget,
        agregats.type_budget,
        agregats.type_budget = 'Budget principal' as est_budget_principal,
        agregats.nomenclature,
        agregats.montant_euros,
        agregats._loaded_at
    from agregats
    left join communes_mapped
        on agregats.code_commune_source = communes_mapped.code_commune_source
    left join territoire
        on communes_mapped.code_commune = territoire.code_commune
)

select * from final
