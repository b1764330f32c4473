-- When an unconfirmed subscriber's last confirmation was queued: the
-- subscribe form sends an address at most one an hour, whichever node
-- takes the request, and forgets subscriptions never confirmed.
ALTER TABLE subscribers ADD COLUMN confirmation_at TEXT;
UPDATE subscribers SET confirmation_at = created_at WHERE confirmed_at IS NULL;
CREATE INDEX subscribers_pending ON subscribers (confirmation_at) WHERE confirmed_at IS NULL;
