-- The quality runs of one dataset, newest first, with the checks that failed in each.
select r.run_id, r.verdict, r.finished_at, r.checks_total, r.checks_passed, r.row_count, r.published,
       r.override_by is not null as overridden, r.override_reason,
       coalesce(jsonb_agg(jsonb_build_object(
                    'check', coalesce(v.rule, v.expectation), 'column', v.column_name, 'level', v.level,
                    'unexpected_count', v.unexpected_count, 'explication', v.explication)
                order by v.level, coalesce(v.rule, v.expectation))
                filter (where v.run_id is not null), '[]'::jsonb) as failed_checks
from quality.validation_runs r
left join quality.validation_results v on v.run_id = r.run_id and not v.success
where r.dataset_id = %(dataset_id)s
group by r.run_id
order by r.finished_at desc
limit %(limit)s
