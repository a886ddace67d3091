with source as (
    select * from {{ source('sinoe', 'tonnages_decheteries') }}
),

renamed as (
    select
        annee::integer as annee,
        {{ repair_code('c_region', 2) }} as code_region_source,
        l_region as nom_region,
        {{ repair_code('c_dept', 2) }} as code_departement_source,
        n_dept as nom_departement,
        c_typ_reg_dechet as code_type_dechet,
        l_typ_reg_dechet as type_dechet,
        tonnage_t::numeric as tonnage_t,
        _line_number as ligne_source,
        _loaded_at
    from source
)

select * from renamed
