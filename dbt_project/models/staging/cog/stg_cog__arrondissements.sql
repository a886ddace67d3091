with source as (
    select * from {{ source('cog', 'arrondissements') }}
),

renamed as (
    select
        arr as code_arrondissement,
        dep as code_departement,
        reg as code_region,
        cheflieu as code_commune_chef_lieu,
        libelle as nom_arrondissement,
        _loaded_at
    from source
)

select * from renamed
