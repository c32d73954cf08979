/**
 * One REST call to a member, and patronictl's common reading of the reply (`check_response`):
 * a status of 400 or more prints `Failed: <action> for member <name>, status code=<n>, (<body>)`,
 * anything else `Success: <action> for member <name>` (unless silent).
 *
 * A member without an `api_url` cannot be called (patronictl crashes on it); that is a
 * RestRequestError naming the member.
 */
import type { PyJson } from '../../dcs/model/json.js';
import type { Member } from '../../dcs/model/member.js';
import type { RestMethod, RestReply } from './rest-client.js';
import { RestRequestError } from './rest-errors.js';
import type { CtlSession } from './session.js';

/** `request_patroni(member, method, endpoint, data)`. */
export async function callMember(
  session: CtlSession,
  member: Member,
  method: RestMethod,
  endpoint: string | null,
  body?: PyJson,
  replySeconds?: number,
): Promise<RestReply> {
  const apiUrl = member.apiUrl;
  if (!apiUrl) {
    const message = `member ${member.name} has no api_url in its member key`;
    throw new RestRequestError(message, { kind: 'config', message });
  }
  return session.rest.request({ apiUrl, method, endpoint, body, replySeconds });
}

/** patronictl's `check_response`: true for a status below 400. */
export function checkResponse(
  session: CtlSession,
  reply: RestReply,
  memberName: string,
  action: string,
  silentSuccess = false,
): boolean {
  if (reply.status >= 400) {
    session.echo(`Failed: ${action} for member ${memberName}, status code=${reply.status}, (${reply.body})`);
    return false;
  }
  if (!silentSuccess) session.echo(`Success: ${action} for member ${memberName}`);
  return true;
}
