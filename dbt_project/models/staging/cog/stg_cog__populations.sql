with source as (
    select * from {{ source('cog', 'populations') }}
),

renamed as (
    select
        com as code_commune,
        commune as nom_commune,
        dep as code_departement,
        reg as code_region,
        pmun::integer as population_municipale,
        pcap::integer as population_comptee_a_part,
        ptot::integer as population_totale,
        _loaded_at
    from source
)

select * from renamed
