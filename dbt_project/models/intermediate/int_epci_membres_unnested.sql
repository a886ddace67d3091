{#- One row per (EPCI, member commune), from the JSON array of BANATIC members. -#}
with epci as (
    select * from {{ ref('stg_cog__epci') }}
),

final as (
    select
        epci.code_epci,
        membre ->> 'code' as code_commune
    from epci
    cross join lateral jsonb_array_elements(epci.membres) as membre
)

select * from final
