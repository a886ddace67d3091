{#- Every territory of indicateurs_territoriaux exists in the dimension of its level (the
    relationships test cannot follow a code whose dimension depends on the `niveau` column). -#}
with indicateurs as (
    select distinct niveau, code_territoire from {{ ref('indicateurs_territoriaux') }}
),

connus as (
    select 'commune' as niveau, code_commune as code from {{ ref('dim_territoire') }}
    union all
    select 'epci', code_epci from {{ ref('dim_epci') }}
    union all
    select 'departement', code_departement from {{ ref('dim_departement') }}
    union all
    select 'region', code_region from {{ ref('dim_region') }}
)

select indicateurs.*
from indicateurs
left join connus
    on indicateurs.niveau = connus.niveau
    and indicateurs.code_territoire = connus.code
where connus.code is null
