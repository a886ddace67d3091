{#- One row per (exercice, budget, agrégat). Codes follow the geography of the exercice (2024). -#}
with source as (
    select * from {{ source('ofgl', 'communes_agregats') }}
),

renamed as (
    select
        exercice::integer as exercice,
        {{ repair_code('code_insee_2024_commune', 5) }} as code_commune_source,
        nom_2024_commune as nom_commune,
        {{ repair_code('code_siren_2024_epci', 9) }} as code_epci_source,
        {{ repair_code('code_insee_2024_departement', 2) }} as code_departement_source,
        {{ repair_code('code_insee_2024_region', 2) }} as code_region_source,
        categorie,
        code_siren_collectivite as siren_collectivite,
        siret_budget,
        libelle_budget,
        type_de_budget as type_budget,
        nomenclature,
        agregat,
        montant::numeric as montant_euros,
        population_totale::integer as population_totale_ofgl,
        _line_number as ligne_source,
        _loaded_at
    from source
)

select * from renamed
