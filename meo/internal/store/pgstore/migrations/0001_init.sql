-- 0001: application packages, their content in chunks, subscriptions and the notification outbox.

CREATE TABLE app_packages (
    id            text PRIMARY KEY,
    pos           bigserial UNIQUE,            -- creation order, the paging position
    app_d_id      text,
    onboarding    text NOT NULL,
    doc           jsonb NOT NULL,              -- the AppPkgInfo attributes (filters run on it)
    app_pkg_path  text NOT NULL DEFAULT '',
    content_size  bigint NOT NULL DEFAULT 0,
    appd          bytea,
    appd_format   text NOT NULL DEFAULT '',
    parsed        jsonb,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now(),
    -- Attributes filters often name, as indexed columns (see pgstore.Columns).
    app_provider      text GENERATED ALWAYS AS (doc->>'appProvider') STORED,
    app_name          text GENERATED ALWAYS AS (doc->>'appName') STORED,
    operational_state text GENERATED ALWAYS AS (doc->>'operationalState') STORED,
    usage_state       text GENERATED ALWAYS AS (doc->>'usageState') STORED
);
CREATE INDEX app_packages_provider ON app_packages (app_provider);
CREATE INDEX app_packages_name ON app_packages (app_name);
CREATE INDEX app_packages_app_d_id ON app_packages (app_d_id);

-- One onboarded package per appDId: /onboarded_app_packages/{appDId} names exactly one.
CREATE UNIQUE INDEX app_packages_onboarded_appd ON app_packages (app_d_id) WHERE onboarding = 'ONBOARDED';

CREATE TABLE app_package_chunks (
    package_id text NOT NULL REFERENCES app_packages (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (package_id, seq)
);
-- Chunks are already compressed zips: do not let TOAST try again.
ALTER TABLE app_package_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE app_pkg_subscriptions (
    id                text PRIMARY KEY,
    pos               bigserial UNIQUE,
    subscription_type text NOT NULL,
    callback_uri      text NOT NULL,
    filter            jsonb,
    created           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    subscription_id text NOT NULL,
    callback_uri    text NOT NULL,
    body            bytea NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt    timestamptz NOT NULL DEFAULT now(),
    created         timestamptz NOT NULL DEFAULT now(),
    claimed_by      text,                      -- the MEO process delivering it
    lease_until     timestamptz                -- until when the claim holds
);

-- Settings every MEO process shares (the page marker key).
CREATE TABLE meo_meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);
