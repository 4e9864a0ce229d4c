import { PermanentError } from 'datasync/core';
import type { HandlerArgs, HandlerResult } from 'datasync/runtime';
import type { StaffUser } from '../../contracts/user.js';

/**
 * Auth's copy of User's staff users (`user.user.updated`), version-based: an update older
 * than the copy is `stale` and changes nothing. A staff user is linked to the Auth account
 * registered with the same email (emails are unique in Auth, and User never changes a staff
 * user's email), so no id is shared between the two services.
 *
 * - `disabled`: every open session of the linked account is revoked (the row records the
 *   event that revoked it), and `POST /auth/sessions` refuses that account from then on.
 * - `active` with no account registered under the email is refused (PermanentError, dead
 *   letter): User activates a staff user only after consuming Auth's `registered` for that
 *   email, which Auth committed first, so the update contradicts Auth's own data; granting
 *   back-office access on it would be wrong and retrying cannot fix it.
 */
export async function keepStaffUser({ event, tx }: HandlerArgs<StaffUser>): Promise<HandlerResult> {
  const user = event.data;
  const { rows: [copy] } = await tx.query<{ version: number }>('SELECT version FROM auth.staff_users WHERE id = $1 FOR UPDATE', [user.id]);
  if (copy && copy.version >= user.version) return 'stale';
  const { rows: [account] } = await tx.query<{ id: string }>('SELECT id FROM auth.accounts WHERE email = lower($1)', [user.email]);
  if (user.status === 'active' && !account) {
    throw new PermanentError(`staff user ${user.id} (version ${user.version}) is active, but no account is registered with their email: `
      + 'User activates a staff user only after Auth registered that account, so back-office access is not granted');
  }
  await tx.query(
    `INSERT INTO auth.staff_users AS s (id, email, roles, status, version, event_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET email = excluded.email, roles = excluded.roles, status = excluded.status, version = excluded.version,
       event_id = excluded.event_id, updated_at = excluded.updated_at`,
    [user.id, user.email, user.roles, user.status, user.version, event.id, user.updatedAt],
  );
  if (user.status === 'disabled' && account) {
    await tx.query(
      `UPDATE auth.sessions SET revoked_at = now(), revoked_reason = 'staff-user-disabled', revoked_by_event = $2
       WHERE account_id = $1 AND revoked_at IS NULL`,
      [account.id, event.id],
    );
  }
  return 'applied';
}
