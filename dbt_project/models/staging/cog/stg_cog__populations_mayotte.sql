{#- Mayotte's file splits the commune code: DEP (976) and CODCOM (601) make 97601. -#}
with source as (
    select * from {{ source('cog', 'populations_mayotte') }}
),

renamed as (
    select
        dep || right(codcom, 2) as code_commune,
        dep as code_departement,
        pmun::integer as population_municipale,
        pcap::integer as population_comptee_a_part,
        ptot::integer as population_totale,
        _loaded_at
    from source
)

select * from renamed
