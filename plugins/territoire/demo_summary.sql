-- The last quality run of each dataset, with the checks it failed (level, rule, explanation).
select
    r.dataset_id,
    r.verdict,
    r.published,
    r.checks_passed,
    r.checks_total,
    r.override_by,
    r.override_reason,
    coalesce(
        (select array_agg(array[v.level, coalesce(v.rule, v.expectation), coalesce(v.explication, '')]
                          order by v.level, coalesce(v.rule, v.expectation))
         from quality.validation_results as v
         where v.run_id = r.run_id and not v.success),
        '{}'
    ) as failed
from (
    select distinct on (dataset_id) *
    from quality.validation_runs
    order by dataset_id, finished_at desc
) as r
order by r.dataset_id
