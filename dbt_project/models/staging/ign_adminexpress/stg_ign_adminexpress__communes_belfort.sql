{#- Codes are those of the 2018 geometry: int_communes_mapped brings them to the current COG. -#}
with source as (
    select * from {{ source('ign_adminexpress', 'communes_belfort') }}
),

renamed as (
    select
        code as code_commune_2018,
        nom as nom_commune_2018,
        geometry::jsonb as geometrie,
        _loaded_at
    from source
)

select * from renamed
