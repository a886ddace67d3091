{#- Area (km²) of every territory that has an IGN contour, from the edges of int_contours_segments
    (no PostGIS in the warehouse).

    Projection: the sinusoidal projection on the GRS80 ellipsoid, x = N(φ)·cos φ·λ, y = M(φ) (M the
    meridian arc length). It is exactly equal-area, and each vertex is projected on its own, so no
    mean latitude per ring is needed. The shoelace formula then gives each ring's signed area.

    Holes: the segments do not say which ring they belong to, but a hole is always wound the other
    way round from its outer ring (clockwise outer rings and counter-clockwise holes in the IGN sample,
    the reverse under RFC 7946): summing the signed areas of every edge of a territory subtracts its
    holes in either convention, and the absolute value removes the orientation. A territory made of
    several polygons (islands, a commune merged since 2018) adds them up.

    Precision: the edges are straight in the projected plane, not on the ellipsoid; for contours as
    dense as these the difference is far below the simplification of the contours themselves. -#}
{%- set a = 6378.137 -%}            {#- GRS80 semi-major axis, km #}
{%- set e2 = 0.00669438002290 -%}   {#- GRS80 first eccentricity squared #}

with segments as (
    select
        niveau,
        code,
        radians(x1) as lambda1,
        radians(y1) as phi1,
        radians(x2) as lambda2,
        radians(y2) as phi2
    from {{ ref('int_contours_segments') }}
),

projetes as (
    select
        niveau,
        code,
        {%- for i in ['1', '2'] %}
        {{ a }} * lambda{{ i }} * cos(phi{{ i }}) / sqrt(1 - {{ e2 }} * sin(phi{{ i }}) ^ 2) as x{{ i }},
        {{ a }} * (
            (1 - {{ e2 }} / 4 - 3 * {{ e2 }} ^ 2 / 64 - 5 * {{ e2 }} ^ 3 / 256) * phi{{ i }}
            - (3 * {{ e2 }} / 8 + 3 * {{ e2 }} ^ 2 / 32 + 45 * {{ e2 }} ^ 3 / 1024) * sin(2 * phi{{ i }})
            + (15 * {{ e2 }} ^ 2 / 256 + 45 * {{ e2 }} ^ 3 / 1024) * sin(4 * phi{{ i }})
            - (35 * {{ e2 }} ^ 3 / 3072) * sin(6 * phi{{ i }})
        ) as y{{ i }}{{ ',' if not loop.last }}
        {%- endfor %}
    from segments
),

final as (
    select
        niveau,
        code,
        round(abs(sum(x1 * y2 - x2 * y1) / 2)::numeric, 3) as superficie_km2
    from projetes
    group by niveau, code
)

select * from final
