// Who is calling the control plane (the console, the admin API): an admin key (`Authorization: Bearer <key>`,
// admin.keys in the config, compared in constant time), or no key from a loopback peer unless the config requires
// auth. One rule for every control-plane route.
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/index.ts';
import { bearerKey, verifyAdminKey, type AdminPrincipal } from '../contracts/tenancy.ts';
import { isLoopbackHost } from './auth.ts';

/** The caller, or the reason it is refused (a 401). */
export function adminCaller(config: Config, req: IncomingMessage): AdminPrincipal | { refused: string } {
  const key = bearerKey(req.headers.authorization);
  if (key !== undefined) return verifyAdminKey(config.admin.keys, key) ?? { refused: 'Unknown admin key.' };
  const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  if (config.server.require_auth !== true && isLoopbackHost(peer)) return { key_id: '', organization_id: undefined };
  return { refused: 'Send "Authorization: Bearer <admin key>" (admin.keys in sightline.yaml).' };
}
