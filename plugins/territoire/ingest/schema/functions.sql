-- SQL functions of the Table Schema types, installed in the `ingest` schema by the loader.
-- Each `to_<type>` returns the value as canonical text, NULL when it cannot be read as the type;
-- the Python side (ingest/schema/types.py) says which type uses which function.

create or replace function ingest.to_number(v text) returns text
language plpgsql immutable parallel safe as $$
declare
    s text := regexp_replace(btrim(v), '[ \u00a0\u202f'']', '', 'g');
begin
    if length(s) > 100 then return null; end if;
    -- `5.` and `5,` are numbers too (frictionless reads them; PostgreSQL casts `5.`).
    if s ~ '^[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$' then return s; end if;
    if s ~ '^[+-]?[0-9]+,[0-9]*$' then return replace(s, ',', '.'); end if;
    if s ~ '^[+-]?\.[0-9]+$' then return replace(s, '.', '0.'); end if;
    if s ~ '^[+-]?,[0-9]+$' then return replace(s, ',', '0.'); end if;
    if s ~ '^[+-]?[0-9]{1,3}(\.[0-9]{3})+,[0-9]+$' then return replace(replace(s, '.', ''), ',', '.'); end if;
    if s ~ '^[+-]?[0-9]{1,3}(,[0-9]{3})+\.[0-9]+$' then return replace(s, ',', ''); end if;
    return null;
end
$$;

create or replace function ingest.to_integer(v text) returns text
language plpgsql immutable parallel safe as $$
declare
    n text := ingest.to_number(v);
begin
    if n ~ '^[+-]?[0-9]+$' then return n; end if;
    if n ~ '^[+-]?[0-9]+\.0+$' then return split_part(n, '.', 1); end if;
    return null;
end
$$;

create or replace function ingest.to_boolean(v text) returns text
language sql immutable parallel safe as $$
    select case lower(btrim(v))
        when 'true' then 'true' when 'vrai' then 'true' when 'oui' then 'true' when '1' then 'true'
        when 't' then 'true' when 'yes' then 'true'
        when 'false' then 'false' when 'faux' then 'false' when 'non' then 'false' when '0' then 'false'
        when 'f' then 'false' when 'no' then 'false'
        else null
    end
$$;

create or replace function ingest.to_date(v text) returns text
language plpgsql immutable parallel safe as $$
declare
    s text := btrim(v);
    d date;
    m int;
begin
    if s ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then
        d := to_date(s, 'YYYY-MM-DD');
    elsif s ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}' then
        d := to_date(left(s, 10), 'YYYY-MM-DD');
    elsif s ~ '^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$' then
        d := to_date(s, 'DD/MM/YYYY');
    elsif s ~ '^[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}$' then
        d := to_date(s, 'DD-MM-YYYY');
    elsif s ~ '^[0-9]{8}$' then
        d := to_date(s, 'YYYYMMDD');
    elsif lower(s) ~ '^[0-9]{1,2}(er)? +[^ 0-9]+ +[0-9]{4}$' then
        -- "1er mars 2024", "14 juillet 2023", "3 févr. 2022"
        m := case rtrim(split_part(regexp_replace(lower(s), ' +', ' ', 'g'), ' ', 2), '.')
            when 'janvier' then 1 when 'janv' then 1 when 'février' then 2 when 'fevrier' then 2
            when 'févr' then 2 when 'fevr' then 2 when 'mars' then 3 when 'avril' then 4 when 'avr' then 4
            when 'mai' then 5 when 'juin' then 6 when 'juillet' then 7 when 'juil' then 7 when 'août' then 8
            when 'aout' then 8 when 'septembre' then 9 when 'sept' then 9 when 'octobre' then 10
            when 'oct' then 10 when 'novembre' then 11 when 'nov' then 11 when 'décembre' then 12
            when 'decembre' then 12 when 'déc' then 12 when 'dec' then 12 end;
        if m is null then return null; end if;
        s := regexp_replace(lower(s), ' +', ' ', 'g');
        d := make_date(split_part(s, ' ', 3)::int, m, regexp_replace(split_part(s, ' ', 1), 'er$', '')::int);
        return to_char(d, 'YYYY-MM-DD');
    else
        return null;
    end if;
    -- to_date accepts 2024-02-31 by rolling over; reject dates that do not round-trip.
    if s ~ '^[0-9]{4}-' and to_char(d, 'YYYY-MM-DD') <> left(s, 10) then
        return null;
    end if;
    if s ~ '^[0-9]{1,2}[/-]' and extract(day from d)::int <> split_part(translate(s, '-', '/'), '/', 1)::int then
        return null;
    end if;
    return to_char(d, 'YYYY-MM-DD');
exception when others then
    return null;
end
$$;

create or replace function ingest.to_datetime(v text) returns text
language plpgsql immutable parallel safe as $$
declare
    s text := btrim(v);
    d text;
begin
    if s ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$' then
        perform s::timestamptz;
        return replace(s, ' ', 'T');
    end if;
    -- French: 01/03/2024 10:00[:00]
    if s ~ '^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}[ T][0-9]{1,2}[:h][0-9]{2}(:[0-9]{2})?$' then
        d := ingest.to_date(substring(s from '^[^ T]+'));
        if d is null then return null; end if;
        return d || 'T' || to_char(replace(substring(s from '[0-9]{1,2}[:h][0-9]{2}(?::[0-9]{2})?$'), 'h', ':')::time,
                                   'HH24:MI:SS');
    end if;
    return null;
exception when others then
    return null;
end
$$;

create or replace function ingest.to_year(v text) returns text
language sql immutable parallel safe as $$
    select case when btrim(v) ~ '^[0-9]{4}(\.0+)?$' then left(btrim(v), 4) else null end
$$;

create or replace function ingest.geopoint_ok(v text, fmt text) returns boolean
language plpgsql immutable parallel safe as $$
declare
    s text := btrim(v);
    m text[];
    lon numeric;
    lat numeric;
begin
    if fmt = 'object' then
        lon := (s::jsonb ->> 'lon')::numeric;
        lat := (s::jsonb ->> 'lat')::numeric;
    else
        m := regexp_match(s, case when fmt = 'array'
            then '^\[\s*([+-]?[0-9]+(?:\.[0-9]+)?)\s*,\s*([+-]?[0-9]+(?:\.[0-9]+)?)\s*\]$'
            else '^([+-]?[0-9]+(?:\.[0-9]+)?)\s*,\s*([+-]?[0-9]+(?:\.[0-9]+)?)$' end);
        lon := m[1]::numeric;
        lat := m[2]::numeric;
    end if;
    return coalesce(lon between -180 and 180 and lat between -90 and 90, false);
exception when others then
    return false;
end
$$;

create or replace function ingest.is_json(v text) returns boolean
language plpgsql immutable parallel safe as $$
begin
    perform v::jsonb;
    return true;
exception when others then
    return false;
end
$$;

create or replace function ingest.regex_ok(pattern text) returns boolean
language plpgsql immutable as $$
begin
    perform '' ~ pattern;
    return true;
exception when others then
    return false;
end
$$;
