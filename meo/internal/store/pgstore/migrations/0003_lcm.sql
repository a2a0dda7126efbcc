-- 0003: app instances, their lifecycle operation occurrences and LCM subscriptions
-- (ETSI GS MEC 010-2 app_lcm).

CREATE TABLE app_instances (
    id                  text PRIMARY KEY,          -- appInstanceId: a lowercase DNS label (internal/ids)
    pos                 bigserial UNIQUE,          -- creation order, the paging position
    app_d_id            text NOT NULL,
    app_pkg_id          text NOT NULL,
    instantiation_state text NOT NULL,             -- NOT_INSTANTIATED | INSTANTIATED
    operational_state   text,                      -- STARTED | STOPPED while INSTANTIATED
    -- Where the instance is placed: set when an instantiate is placed (before it completes,
    -- so that the site's committed resources count it at once), cleared when a terminate
    -- completes or an instantiate fails for good.
    site_id             text,
    resources           jsonb,                     -- vim.Resources committed on site_id
    observed            jsonb,                     -- the last observation from the site
    app_ready           boolean NOT NULL DEFAULT false, -- the app confirmed ready on its MEP (instantiate completed)
    doc                 jsonb NOT NULL,            -- the AppInstanceInfo attributes (filters run on it)
    created             timestamptz NOT NULL DEFAULT now(),
    updated             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX app_instances_site ON app_instances (site_id) WHERE site_id IS NOT NULL;
CREATE INDEX app_instances_app_d_id ON app_instances (app_d_id);
CREATE INDEX app_instances_app_pkg_id ON app_instances (app_pkg_id);

CREATE TABLE app_lcm_op_occs (
    id              text PRIMARY KEY,
    pos             bigserial UNIQUE,
    app_instance_id text NOT NULL,                 -- op occurrences outlive their instance
    operation       text NOT NULL,                 -- INSTANTIATE | OPERATE | TERMINATE
    state           text NOT NULL,                 -- STARTING | PROCESSING | COMPLETED | FAILED_TEMP | FAILED
    request         jsonb NOT NULL,                -- operationParams, as accepted
    task            jsonb,                         -- what the executor runs (reconcile.Task inputs), fixed at creation
    placement       jsonb,                         -- the placement request of an INSTANTIATE, fixed at creation
    site_id         text,                          -- the site it runs on, once placed
    decision        jsonb,                         -- the placement decision (chosen, candidates, rejected)
    error           jsonb,                         -- ProblemDetails of FAILED_TEMP and FAILED
    cancel_mode     text,                          -- GRACEFUL | FORCEFUL once a cancel is asked
    attempts        integer NOT NULL DEFAULT 0,    -- runs that ended FAILED_TEMP
    doc             jsonb NOT NULL,                -- the AppLcmOpOcc attributes (filters run on it)
    claimed_by      text,                          -- the MEO process running it
    lease_until     timestamptz,                   -- until when the claim holds
    next_attempt    timestamptz NOT NULL DEFAULT now(), -- not claimed before (retry backoff)
    started         timestamptz NOT NULL DEFAULT now(),
    state_entered   timestamptz NOT NULL DEFAULT now()
);
-- One task at a time per instance: an op occurrence that has not ended for good holds it.
CREATE UNIQUE INDEX app_lcm_op_occs_one_active ON app_lcm_op_occs (app_instance_id)
    WHERE state IN ('STARTING', 'PROCESSING', 'FAILED_TEMP');
-- What the executor claims: runs to start or resume, and FAILED_TEMP runs whose automatic
-- retry is due (next_attempt is far in the future when only an operator's retry may resume).
CREATE INDEX app_lcm_op_occs_runnable ON app_lcm_op_occs (next_attempt)
    WHERE state IN ('STARTING', 'PROCESSING', 'FAILED_TEMP');
CREATE INDEX app_lcm_op_occs_instance ON app_lcm_op_occs (app_instance_id);

CREATE TABLE app_lcm_subscriptions (
    id                text PRIMARY KEY,
    pos               bigserial UNIQUE,
    subscription_type text NOT NULL,               -- AppInstanceStateChange | AppLcmOpOccStateChange | AppInstanceIdentifierCreation | AppInstanceIdentifierDeletion
    callback_uri      text NOT NULL,
    filter            jsonb,
    created           timestamptz NOT NULL DEFAULT now()
);
