"""PostgreSQL statements of 0007_claim_lease (kept apart: see engine/checksums.py COMPANIONS)."""

STEPS = [(["ALTER TABLE tasks ADD COLUMN claim_lease_seconds INTEGER"],
          ["ALTER TABLE tasks DROP COLUMN claim_lease_seconds"])]
