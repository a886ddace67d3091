with source as (
    select * from {{ source('cog', 'epci') }}
),

renamed as (
    select
        code as code_epci,
        nom as nom_epci,
        type as type_epci,
        modefinancement as mode_financement,
        populationtotale::integer as population_totale,
        populationmunicipale::integer as population_municipale,
        membres::jsonb as membres,
        _loaded_at
    from source
)

select * from renamed
