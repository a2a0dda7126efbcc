-- 0004: the executor's task journal and per-site leases (meo/internal/orchestrate).

-- The progress of each reconcile task (one op occurrence, or a drift re-creation), saved
-- before the next step starts, so that any MEO process resumes a task where the last one
-- stopped.
CREATE TABLE task_journal (
    task_id         text PRIMARY KEY,              -- the op occurrence's id (or a re-creation's)
    app_instance_id text NOT NULL,
    progress        jsonb NOT NULL,                -- reconcile.Progress
    updated         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_journal_instance ON task_journal (app_instance_id);

-- Which MEO process follows which site (its VIM watch and resync): one holder per site,
-- taken over by another process once lease_until has passed.
CREATE TABLE site_leases (
    site_id     text PRIMARY KEY,
    holder      text NOT NULL,
    lease_until timestamptz NOT NULL,
    acquired    timestamptz NOT NULL DEFAULT now() -- when holder took it
);
