with source as (
    select * from {{ source('ign_adminexpress', 'departements') }}
),

renamed as (
    select
        code as code_departement,
        nom as nom_departement,
        geometry::jsonb as geometrie,
        _loaded_at
    from source
)

select * from renamed
