-- A claimed request (state 'sending') carries a lease. A worker that dies between handing a
-- message to the SMTP server (or the homeserver) and recording it leaves the request in
-- 'sending'; once the lease has passed, any worker claims it again. Delivery is therefore at
-- least once, and a resent mail keeps its Message-ID.
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
