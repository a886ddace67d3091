-- Points of the table as numbers, with where they fall: in one of France's boxes, or there once
-- longitude and latitude are swapped. {lon} and {lat} read the declared columns.
with boxes (name, lon_min, lat_min, lon_max, lat_max) as (
    values {boxes}
),
points as (
    select _line_number, {value} as val, {lon} as lon, {lat} as lat
    from {table}
),
placed as (
    select p.*,
           (select b.name from boxes b
            where p.lon between b.lon_min and b.lon_max and p.lat between b.lat_min and b.lat_max limit 1) as zone,
           (select b.name from boxes b
            where p.lat between b.lon_min and b.lon_max and p.lon between b.lat_min and b.lat_max limit 1) as zone_swapped
    from points p
    where p.lon is not null and p.lat is not null
)
select _line_number, %(column_name)s::text, val,
       format({message}, lon, lat, coalesce(zone, zone_swapped))
from placed
where {condition}
