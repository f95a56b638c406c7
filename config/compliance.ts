// The config sections of the console and the compliance commands (issue #17): admin keys and per-organisation
// retention. Parsed with the rest of the config by config/index.ts.
import { z } from 'zod';

/** Organisation ids that go into SQL text (TTL expressions): no quoting needed, nothing to escape. */
export const ORG_ID_IN_SQL = /^[A-Za-z0-9_.:-]{1,128}$/;

export const AdminKeySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "-", "." only'),
  /** sha256 hex of the key; the key itself is never stored. */
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest (npx sightline keys hash <key>)'),
  /** Set: the key sees only this organisation's rows (console, CLI, the embedded store's HTTP interface). Unset: every organisation. */
  organization_id: z.string().min(1).optional(),
});
export type AdminKey = z.infer<typeof AdminKeySchema>;

export const AdminSchema = z.strictObject({
  /**
   * Keys for the console (`Authorization: Bearer <key>`, required off loopback), the CLI's `--key` and the embedded
   * store's HTTP interface (user = the key's id, password = the key).
   */
  keys: z.array(AdminKeySchema).default([]),
});

const Days = z.coerce.number().int().positive();

export const RetentionSchema = z.strictObject({
  /** Per organisation, overriding clickhouse.body_retention_days / retention_days for that organisation's rows. */
  organizations: z.record(
    z.string().regex(ORG_ID_IN_SQL, 'organisation ids with retention overrides: letters, digits, "_", "-", ".", ":" only'),
    z.strictObject({ body_retention_days: Days.optional(), retention_days: Days.optional() }),
  ).default({}),
});
