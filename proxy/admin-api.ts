// The admin API for virtual keys, under /_sightline/api/keys (express, control plane only):
//   GET    /_sightline/api/keys            list (an organisation's admin key sees its organisation's keys only)
//   POST   /_sightline/api/keys            create: the secret is in this answer and never again
//   GET    /_sightline/api/keys/:id        one key, with its current spend against each of its budgets
//   PATCH  /_sightline/api/keys/:id        change models, budget, rpm, tpm, expires_at, metadata, team
//   DELETE /_sightline/api/keys/:id        revoke
// Authenticated as the console is (admin-auth.ts): an admin key, or loopback where auth is not required. Bodies are
// validated with zod.
import express from 'express';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Config } from '../config/index.ts';
import { BudgetSchema } from '../config/budgets.ts';
import { periodOf, scopeName, spendCounter } from '../contracts/spend.ts';
import type { SpendScope } from '../contracts/spend.ts';
import type { AdminPrincipal } from '../contracts/tenancy.ts';
import type { SpendStore } from '../ledger/spend-store.ts';
import { adminCaller } from './admin-auth.ts';
import type { KeyStore, StoredKey } from './keys/store.ts';
import { KeyStoreError } from './keys/store.ts';

const KeyFields = {
  team: z.string().max(128).optional(),
  models: z.array(z.string().min(1).max(256)).max(256).optional(),
  budget: z.string().optional().refine((b) => b === undefined || BudgetSchema.safeParse(b).success, 'expected <usd>/<day|week|month>, e.g. 200/month'),
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
  metadata: z.record(z.string(), z.string().max(1024)).optional(),
};
const CreateBody = z.strictObject({ id: z.string().optional(), organization_id: z.string().min(1).optional(), ...KeyFields });
const UpdateBody = z.strictObject(KeyFields);

export interface AdminApiDeps {
  config: Config;
  keys: KeyStore;
  spend: SpendStore;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly code: string) {
    super(message);
  }
}

/** A key as the API shows it: never its digest. */
function view(k: StoredKey): Record<string, unknown> {
  const { hash: _hash, budget, ...rest } = k;
  return { ...rest, budget: budget === undefined ? null : `${budget.usd}/${budget.period}` };
}

export function createAdminApi({ config, keys, spend }: AdminApiDeps): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: '64kb' }));

  const principalOf = (req: Request): AdminPrincipal => {
    const caller = adminCaller(config, req);
    if ('refused' in caller) throw new HttpError(401, caller.refused, 'sightline_unauthorized');
    return caller;
  };
  const visible = (p: AdminPrincipal, id: string): StoredKey => {
    const k = keys.byId(id);
    if (k === undefined || (p.organization_id !== undefined && k.organization_id !== p.organization_id)) throw new HttpError(404, `No key "${id}".`, 'sightline_not_found');
    return k;
  };
  const parsed = <T>(schema: z.ZodType<T>, body: unknown): T => {
    const r = schema.safeParse(body ?? {});
    if (!r.success) throw new HttpError(400, r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '), 'sightline_invalid_request');
    return r.data;
  };
  const route = (work: (p: AdminPrincipal, req: Request) => Promise<{ status?: number; body: unknown }>) => (req: Request, res: Response) => {
    void (async () => {
      try {
        const { status = 200, body } = await work(principalOf(req), req);
        res.status(status).json(body);
      } catch (err) {
        const e = err instanceof HttpError ? err : err instanceof KeyStoreError ? new HttpError(err.status, err.message, err.status === 409 ? 'sightline_conflict' : 'sightline_invalid_request') : new HttpError(500, 'Internal error in the admin API.', 'sightline_internal');
        res.status(e.status).json({ error: { message: e.message, type: e.status === 401 ? 'authentication_error' : 'invalid_request_error', code: e.code } });
      }
    })();
  };

  /** The key's budget now: the period, its limit, what is spent and reserved, when it resets. */
  async function spendOf(k: StoredKey): Promise<unknown> {
    if (k.budget === undefined) return null;
    const now = Date.now();
    const scope: SpendScope = { kind: 'key', id: k.id };
    const window = periodOf(k.budget.period, config.budgets.timezone, now);
    const { spentUsd, reservedUsd } = await spend.read(spendCounter(scope, window), now);
    return { scope: scopeName(scope), period: window.id, limit_usd: k.budget.usd, spent_usd: spentUsd, reserved_usd: reservedUsd, remaining_usd: Math.max(0, k.budget.usd - spentUsd), resets_at: new Date(window.resetsAt).toISOString() };
  }

  router.get('/keys', route(async (p) => ({ body: { data: keys.list(p.organization_id).map(view) } })));
  router.post('/keys', route(async (p, req) => {
    const body = parsed(CreateBody, req.body);
    const organization = p.organization_id ?? body.organization_id;
    if (organization === undefined) throw new HttpError(400, 'organization_id: required (this admin key is for every organisation)', 'sightline_invalid_request');
    if (body.organization_id !== undefined && body.organization_id !== organization) throw new HttpError(403, `This admin key manages organisation "${organization}" only.`, 'sightline_forbidden');
    const { key, secret } = await keys.create({ ...body, organization_id: organization });
    return { status: 201, body: { ...view(key), secret, note: 'The secret is shown only now; Sightline keeps its sha256 digest.' } };
  }));
  router.get('/keys/:id', route(async (p, req) => {
    const k = visible(p, String(req.params.id));
    return { body: { ...view(k), spend: await spendOf(k) } };
  }));
  router.patch('/keys/:id', route(async (p, req) => {
    visible(p, String(req.params.id));
    return { body: view(await keys.update(String(req.params.id), parsed(UpdateBody, req.body))) };
  }));
  router.delete('/keys/:id', route(async (p, req) => {
    visible(p, String(req.params.id));
    return { body: view(await keys.revoke(String(req.params.id))) };
  }));
  return router;
}
