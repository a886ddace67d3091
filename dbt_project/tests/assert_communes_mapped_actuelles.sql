{#- A mapped commune is always a current commune of the COG (never a delegated commune or an
    arrondissement municipal), and a current commune always maps to itself. -#}
select mapped.*
from {{ ref('int_communes_mapped') }} as mapped
left join {{ ref('dim_territoire') }} as territoire
    on mapped.code_commune = territoire.code_commune
where (mapped.code_commune is not null and territoire.code_commune is null)
    or (mapped.methode = 'commune_actuelle' and mapped.code_commune <> mapped.code_commune_source)
