-- 0005: traffic steering through the 5G core (the MEO as an Application Function, 3GPP TS
-- 29.522 Nnef_TrafficInfluence; meo/internal/orchestrate steer.go).

-- A site's 5G data: DNAIs, DNN, S-NSSAI and its NEF with the AF's credentials. The static
-- token and the OAuth 2.0 client secret are sealed with the MEO key like the other site
-- secrets ({keyId, nonce, ciphertext, fingerprint} inside the document), never in clear.
ALTER TABLE sites ADD COLUMN five_g jsonb;

-- One row per app instance whose traffic is (or was) steered: the subscription at the NEF,
-- what it was made from, its state and the UP path changes the NEF reported. A row outlives
-- its instance until the NEF's subscription is deleted, so that no subscription is lost.
CREATE TABLE af_subscriptions (
    app_instance_id text PRIMARY KEY,
    site_id         text NOT NULL,
    doc             jsonb NOT NULL,                -- the steering record (orchestrate.Steering)
    view            jsonb NOT NULL,                -- what AppInstanceInfo.trafficSteering shows
    due             timestamptz,                   -- the next pass of the steering loop (NULL: none)
    updated         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX af_subscriptions_due ON af_subscriptions (due) WHERE due IS NOT NULL;
