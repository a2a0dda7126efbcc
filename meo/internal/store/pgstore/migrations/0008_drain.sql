-- 0007: the progress of site drains (meo/internal/orchestrate/drain.go), written by the
-- process that holds the draining site's lease and shown as the site's state.drain.

CREATE TABLE site_drains (
    site_id text PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    status  jsonb NOT NULL,                         -- orchestrate.DrainStatus
    updated timestamptz NOT NULL DEFAULT now()
);

-- The relocations in progress count on the site they go to (pgstore SiteUsage, siteLoad).
CREATE INDEX app_lcm_op_occs_active_site ON app_lcm_op_occs (site_id)
    WHERE state IN ('STARTING', 'PROCESSING', 'FAILED_TEMP') AND site_id IS NOT NULL;
