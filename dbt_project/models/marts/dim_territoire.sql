{#- The territory dimension: one row per current commune (COG 2026, TYPECOM = COM) with its whole
    hierarchy commune -> EPCI -> département -> région and its population. Communes associées or
    déléguées (COMA, COMD) and municipal arrondissements (ARM) are not communes: they are folded into
    their parent (see int_communes_mapped for old codes). Codes stay text: leading zeros and
    Corsica's 2A/2B are kept. The area comes from the IGN contours (int_territoires_superficies): null
    for a commune no contour covers (the shipped sample has commune contours for Belfort only). -#}
with communes as (
    select * from {{ ref('stg_cog__communes') }}
    where type_commune = 'COM'
),

departements as (
    select * from {{ ref('stg_cog__departements') }}
),

regions as (
    select * from {{ ref('stg_cog__regions') }}
),

epci_membres as (
    select * from {{ ref('int_epci_membres_unnested') }}
),

epci as (
    select * from {{ ref('stg_cog__epci') }}
),

populations as (
    select * from {{ ref('int_populations_aggregated') }}
),

superficies as (
    select code, superficie_km2 from {{ ref('int_territoires_superficies') }}
    where niveau = 'commune'
),

final as (
    select
        communes.code_commune,
        communes.nom_commune,
        epci_membres.code_epci,
        epci.nom_epci,
        epci.type_epci,
        communes.code_departement,
        departements.nom_departement,
        communes.code_region,
        regions.nom_region,
        communes.code_arrondissement,
        populations.population_municipale,
        populations.population_totale,
        coalesce(populations.population_depuis_arrondissements, false) as population_depuis_arrondissements,
        superficies.superficie_km2,
        {{ var('cog_millesime') }} as millesime_cog
    from communes
    left join departements
        on communes.code_departement = departements.code_departement
    left join regions
        on communes.code_region = regions.code_region
    left join epci_membres
        on communes.code_commune = epci_membres.code_commune
    left join epci
        on epci_membres.code_epci = epci.code_epci
    left join populations
        on communes.code_commune = populations.code_commune
    left join superficies
        on communes.code_commune = superficies.code
)

select * from final
