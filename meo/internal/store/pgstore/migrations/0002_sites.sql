-- 0002: edge sites (the inventory). Secrets (the MEP token, the kubeconfig) are stored sealed
-- with the MEO key: jsonb {keyId, nonce, ciphertext, fingerprint}, never in clear.

CREATE TABLE sites (
    id                 text PRIMARY KEY,           -- a lowercase DNS label (internal/ids)
    pos                bigserial UNIQUE,           -- creation order, the paging position
    name               text NOT NULL,
    labels             jsonb NOT NULL DEFAULT '{}',
    location           jsonb NOT NULL DEFAULT '{}', -- placement.Location
    mep_endpoint       text NOT NULL,              -- Mm5 base URL
    mep_token          jsonb,                      -- sealed
    mep_ca_cert        text NOT NULL DEFAULT '',
    mp1_endpoint       text NOT NULL DEFAULT '',
    vim_kind           text NOT NULL,
    vim_kubeconfig     jsonb,                      -- sealed
    vim_libvirt_uri    text NOT NULL DEFAULT '',
    vim_libvirt_socket text NOT NULL DEFAULT '',
    generation         bigint NOT NULL DEFAULT 1,  -- bumped when the connection settings change
    cordoned           boolean NOT NULL DEFAULT false,
    draining           boolean NOT NULL DEFAULT false,
    capacity           jsonb,                      -- vim.Capabilities of the last probe that reached the VIM
    capacity_at        timestamptz,
    mep_health         jsonb NOT NULL DEFAULT '{}', -- record.Health
    vim_health         jsonb NOT NULL DEFAULT '{}',
    probe_due          timestamptz NOT NULL DEFAULT now(), -- the next probe of the refresh loop
    created            timestamptz NOT NULL DEFAULT now(),
    updated            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_probe_due ON sites (probe_due);
CREATE INDEX sites_labels ON sites USING gin (labels jsonb_path_ops);
