-- Whether this login may read the quality history (the API's role may; another login may not).
select coalesce(has_schema_privilege('quality', 'usage')
                and to_regclass('quality.validation_runs') is not null
                and has_table_privilege('quality.validation_runs', 'select')
                and has_table_privilege('quality.validation_results', 'select'), false)
