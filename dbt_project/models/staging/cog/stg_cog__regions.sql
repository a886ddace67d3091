with source as (
    select * from {{ source('cog', 'regions') }}
),

renamed as (
    select
        reg as code_region,
        cheflieu as code_commune_chef_lieu,
        libelle as nom_region,
        _loaded_at
    from source
)

select * from renamed
