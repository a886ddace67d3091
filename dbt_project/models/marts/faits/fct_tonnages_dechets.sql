{#- Waste collection centre tonnages by département x year x waste type (SINOE). Codes of overseas
    collectivities (977, 978, 987, 988) are not COG départements: the rows are kept with a null
    code_departement and reported in territoire_codes_non_resolus. -#}
with tonnages as (
    select * from {{ ref('stg_sinoe__tonnages_decheteries') }}
),

departements as (
    select * from {{ ref('dim_departement') }}
),

final as (
    select
        tonnages.annee,
        tonnages.code_departement_source,
        tonnages.code_type_dechet,
        tonnages.type_dechet,
        departements.code_departement,
        departements.code_region,
        tonnages.tonnage_t,
        tonnages._loaded_at
    from tonnages
    left join departements
        on tonnages.code_departement_source = departements.code_departement
)

select * from final
