with source as (
    select * from {{ source('cog', 'collectivites_outremer') }}
),

renamed as (
    select
        code_commune,
        nom_commune,
        code_collectivite,
        nom_collectivite,
        code_postal,
        population::integer as population,
        _loaded_at
    from source
)

select * from renamed
