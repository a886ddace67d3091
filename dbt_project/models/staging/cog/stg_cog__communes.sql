with source as (
    select * from {{ source('cog', 'communes') }}
),

renamed as (
    select
        typecom as type_commune,
        com as code_commune,
        reg as code_region,
        dep as code_departement,
        ctcd as code_collectivite_departementale,
        arr as code_arrondissement,
        can as code_canton,
        ncc as nom_majuscules,
        libelle as nom_commune,
        comparent as code_commune_parente,
        _batch_id,
        _loaded_at
    from source
)

select * from renamed
