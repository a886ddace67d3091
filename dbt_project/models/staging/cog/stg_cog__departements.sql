with source as (
    select * from {{ source('cog', 'departements') }}
),

renamed as (
    select
        dep as code_departement,
        reg as code_region,
        cheflieu as code_commune_chef_lieu,
        libelle as nom_departement,
        _loaded_at
    from source
)

select * from renamed
