// Who a console, CLI or HTTP-interface caller is, and how its queries are held to one organisation. Shared by the
// proxy's control plane, the CLI and the embedded store's HTTP interface, so the three paths scope the same way.
//
// Scoping is enforced by the engine, not by the SQL a caller sends: every table of the sightline database that has
// an organization_id column gets `organization_id = '<org>'` through the additional_table_filters setting, which
// ClickHouse applies wherever the table is read (FINAL, subqueries, JOINs, CTEs, views over it, view()). merge() and
// a few system tables escape it, so the HTTP interface refuses those for a scoped caller (analytics/http-server.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminKey } from '../config/compliance.ts';

export interface AdminPrincipal {
  key_id: string;
  /** undefined = every organisation. */
  organization_id: string | undefined;
}

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/**
 * The admin key matching `presented`, compared against every configured digest in constant time (no early exit, so
 * timing does not say which key, or how much of one, matched); undefined when none does.
 */
export function verifyAdminKey(keys: readonly AdminKey[], presented: string): AdminPrincipal | undefined {
  const d = digest(presented);
  let found: AdminKey | undefined;
  for (const k of keys) {
    if (timingSafeEqual(d, Buffer.from(k.hash, 'hex')) && found === undefined) found = k;
  }
  return found && { key_id: found.id, organization_id: found.organization_id };
}

/** The key from `Authorization: Bearer <key>`, or undefined. */
export function bearerKey(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}


/** Lists the tables to filter: every non-view table of the sightline database with an organization_id column. */
export const ORG_TABLES_SQL = `SELECT concat(database, '.', table) AS qualified FROM system.columns
WHERE database = 'sightline' AND name = 'organization_id'
  AND (database, table) IN (SELECT database, name FROM system.tables WHERE database = 'sightline' AND engine NOT IN ('View', 'MaterializedView', 'LiveView', 'WindowView'))
ORDER BY qualified`;

const TABLE_NAME = /^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$/;

/**
 * The additional_table_filters entries that hold every table in `tables` to one organisation: table → condition.
 * The organisation goes in as its bytes (`char(97, 99, …)`), so a condition has no string literal of its own: it
 * survives every layer of quoting (the setting's map literal, a URL parameter, chDB's `SET k = '…'`) whatever the
 * organisation id contains.
 */
export function organisationConditions(tables: readonly string[], organization: string): Record<string, string> {
  if (organization === '') throw new Error('an organisation scope needs an organisation id');
  const condition = `organization_id = char(${[...Buffer.from(organization, 'utf8')].join(', ')})`;
  return Object.fromEntries(tables.map((t) => {
    if (!TABLE_NAME.test(t)) throw new Error(`unexpected table name ${t}`);
    return [t, condition];
  }));
}

/** The same, as the setting's text (a ClickHouse Map literal). */
export function organisationFilter(tables: readonly string[], organization: string): string {
  return `{${Object.entries(organisationConditions(tables, organization)).map(([t, c]) => `'${t}': '${c}'`).join(', ')}}`;
}

/** Settings names a scoped caller may not send: they would lift or replace its filter. */
export const SCOPE_SETTINGS = ['additional_table_filters', 'additional_result_filter'] as const;
