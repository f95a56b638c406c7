DROP TABLE IF EXISTS sightline.audit_log;
