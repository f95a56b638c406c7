DROP VIEW IF EXISTS sightline.audit_trail SYNC;
