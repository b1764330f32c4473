-- Fencing the senders of notices (issue 13). Every claim of deliveries
-- gets a new generation from delivery_leases; a sender renews, hands
-- over and records outcomes only under its own generation, so a node
-- whose lease lapsed and was claimed again can never send or write over
-- the new holder. handover_at is set just before an e-mail's final dot:
-- whoever finds the lease ended with it set marks the e-mail in doubt
-- (the server may have it) instead of sending it again, on any node.
CREATE TABLE delivery_leases (gen INTEGER NOT NULL);
INSERT INTO delivery_leases (gen) VALUES (0);
ALTER TABLE deliveries ADD COLUMN lease_gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN handover_at TEXT;
CREATE INDEX deliveries_lease ON deliveries (lease_gen) WHERE state = 'pending';
-- Every claim looks for handovers whose lease ended: few rows, found fast.
CREATE INDEX deliveries_handed_over ON deliveries (lease_until) WHERE state = 'pending' AND handover_at IS NOT NULL;
