// Drives Kavach's organization and admin capabilities with better-auth's own client
// plugins (`organizationClient()` and `adminClient()` from the npm package
// `better-auth`, pinned in package.json). Several users act at once, each with a
// cookie jar of their own. Exits non-zero on the first failed check.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach ADMIN_EMAIL=... ADMIN_PASSWORD=... node org-admin.mjs
// (the admin is an existing verified user whose platform role is `admin`).
import { createAuthClient } from "better-auth/client";
import { adminClient, organizationClient } from "better-auth/client/plugins";
import assert from "node:assert/strict";
import { cookieFetch } from "./browser.mjs";

const api = process.env.KAVACH_API;
if (!api) throw new Error("set KAVACH_API");
// The app page the browser would be on (Kavach checks it on cookie-carrying writes).
const origin = process.env.KAVACH_ORIGIN || new URL(api).origin;
const adminEmail = process.env.ADMIN_EMAIL;
const adminPassword = process.env.ADMIN_PASSWORD;
if (!adminEmail || !adminPassword) throw new Error("set ADMIN_EMAIL and ADMIN_PASSWORD");

// One browser: a client with its own cookie jar around fetch.
function newClient() {
  const { jar, fetchWithCookies } = cookieFetch(origin);
  const client = createAuthClient({
    baseURL: api,
    fetchOptions: { customFetchImpl: fetchWithCookies },
    plugins: [organizationClient(), adminClient()],
  });
  return { client, jar };
}

let checks = 0;
const check = (cond, msg) => { assert.ok(cond, msg); checks++; };
const show = (r) => JSON.stringify(r.error ?? r.data);
// A refusal with this status (and code, when given).
const refused = (r, status, code) => !!r.error && r.error.status === status && (code === undefined || r.error.code === code);

const ts = Date.now();
const password = "correct horse battery staple 1";
const emails = { alice: `alice-${ts}@example.com`, bob: `bob-${ts}@example.com`, carol: `carol-${ts}@example.com` };

// 1. The admin signs in and holds `user: ban`.
const { client: admin } = newClient();
{
  const r = await admin.signIn.email({ email: adminEmail, password: adminPassword });
  check(!r.error, `admin sign-in failed: ${show(r)}`);
  const p = await admin.admin.hasPermission({ permissions: { user: ["ban"] } });
  check(!p.error && p.data.success === true, `admin has user:ban: ${show(p)}`);
}
const adminId = (await admin.getSession()).data.user.id;

// 2. The admin creates three verified users.
const ids = {};
for (const [name, email] of Object.entries(emails)) {
  const r = await admin.admin.createUser({ email, password, name, data: { emailVerified: true } });
  check(!r.error, `create-user ${name} failed: ${show(r)}`);
  check(r.data.user.email === email && r.data.user.emailVerified === true, `create-user ${name} returns the verified user: ${show(r)}`);
  ids[name] = r.data.user.id;
}

// 3. list-users finds alice.
{
  const r = await admin.admin.listUsers({ query: { searchValue: emails.alice.split("@")[0], limit: 10 } });
  check(!r.error, `list-users failed: ${show(r)}`);
  check(r.data.users.some((u) => u.id === ids.alice), `list-users finds alice: ${show(r)}`);
  check(r.data.total >= 1, `list-users total: ${r.data.total}`);
}

async function signedIn(name) {
  const c = newClient();
  const r = await c.client.signIn.email({ email: emails[name], password });
  check(!r.error, `${name} sign-in failed: ${show(r)}`);
  return c;
}

// 4. Alice creates an organization: she owns it and it becomes active.
const { client: alice } = await signedIn("alice");
const slug = `acme-${ts}`;
let orgId;
{
  const r = await alice.organization.create({ name: "Acme", slug });
  check(!r.error, `organization/create failed: ${show(r)}`);
  check(typeof r.data.id === "string" && r.data.slug === slug, `create returns the organization: ${show(r)}`);
  check(Array.isArray(r.data.members) && r.data.members[0].role === "owner" && r.data.members[0].userId === ids.alice, `creator is owner: ${show(r)}`);
  orgId = r.data.id;
  const taken = await alice.organization.checkSlug({ slug });
  check(refused(taken, 400, "ORGANIZATION_SLUG_ALREADY_TAKEN"), `check-slug on a taken slug: ${show(taken)}`);
  const free = await alice.organization.checkSlug({ slug: `free-${ts}` });
  check(!free.error && free.data.status === true, `check-slug on a free slug: ${show(free)}`);
  const list = await alice.organization.list();
  check(!list.error && list.data.some((o) => o.id === orgId), `organization/list has it: ${show(list)}`);
  const s = await alice.getSession();
  check(s.data?.session.activeOrganizationId === orgId, `new organization is active: ${show(s)}`);
}

// 5. Alice invites bob as admin; carol cannot take the invitation, bob accepts it once.
const { client: bob } = await signedIn("bob");
const { client: carol } = await signedIn("carol");
let invitationId;
{
  const r = await alice.organization.inviteMember({ email: emails.bob, role: "admin" });
  check(!r.error && typeof r.data.id === "string", `invite-member failed: ${show(r)}`);
  check(r.data.email === emails.bob && r.data.role === "admin" && r.data.status === "pending", `invitation: ${show(r)}`);
  invitationId = r.data.id;
  const mine = await bob.organization.listUserInvitations();
  check(!mine.error && mine.data.some((i) => i.id === invitationId), `list-user-invitations has it: ${show(mine)}`);
  const notMine = await carol.organization.acceptInvitation({ invitationId });
  check(refused(notMine, 403, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION"), `carol accepting bob's invitation: ${show(notMine)}`);
  const ok = await bob.organization.acceptInvitation({ invitationId });
  check(!ok.error && ok.data.member.role === "admin" && ok.data.member.userId === ids.bob, `accept-invitation failed: ${show(ok)}`);
  check(ok.data.invitation.status === "accepted", `invitation accepted: ${show(ok)}`);
  const again = await bob.organization.acceptInvitation({ invitationId });
  check(refused(again, 400, "INVITATION_NOT_FOUND"), `accepting twice: ${show(again)}`);
}

// 6. Bob sees the organization with both members.
let aliceMemberId, bobMemberId;
{
  const full = await bob.organization.getFullOrganization({ query: { organizationId: orgId } });
  check(!full.error && full.data.id === orgId, `get-full-organization failed: ${show(full)}`);
  check(full.data.members.length === 2, `two members: ${show(full)}`);
  aliceMemberId = full.data.members.find((m) => m.userId === ids.alice)?.id;
  bobMemberId = full.data.members.find((m) => m.userId === ids.bob)?.id;
  check(aliceMemberId && bobMemberId, `members are alice and bob: ${show(full)}`);
  const members = await bob.organization.listMembers({ query: { organizationId: orgId } });
  check(!members.error && members.data.total === 2 && members.data.members.length === 2, `list-members: ${show(members)}`);
}

// 7. An admin member may manage members but not delete the organization or touch the owner.
{
  const del = await bob.organization.hasPermission({ organizationId: orgId, permissions: { organization: ["delete"] } });
  check(!del.error && del.data.success === false, `admin lacks organization:delete: ${show(del)}`);
  const create = await bob.organization.hasPermission({ organizationId: orgId, permissions: { member: ["create"] } });
  check(!create.error && create.data.success === true, `admin holds member:create: ${show(create)}`);
  const r = await bob.organization.delete({ organizationId: orgId });
  check(refused(r, 403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION"), `admin deleting the organization: ${show(r)}`);
  const demoteOwner = await bob.organization.updateMemberRole({ organizationId: orgId, memberId: aliceMemberId, role: "member" });
  check(refused(demoteOwner, 403), `admin demoting the owner: ${show(demoteOwner)}`);
  const demote = await alice.organization.updateMemberRole({ organizationId: orgId, memberId: bobMemberId, role: "member" });
  check(!demote.error && demote.data.role === "member" && demote.data.id === bobMemberId, `owner demotes bob: ${show(demote)}`);
}

// 8. A non-member sees nothing of the organization.
{
  const full = await carol.organization.getFullOrganization({ query: { organizationId: orgId } });
  check(refused(full, 403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"), `non-member get-full-organization: ${show(full)}`);
  const members = await carol.organization.listMembers({ query: { organizationId: orgId } });
  check(refused(members, 403), `non-member list-members: ${show(members)}`);
}

// 9. Teams.
let teamId;
{
  const t = await alice.organization.createTeam({ name: "Core", organizationId: orgId });
  check(!t.error && typeof t.data.id === "string" && t.data.name === "Core", `create-team failed: ${show(t)}`);
  teamId = t.data.id;
  const add = await alice.organization.addTeamMember({ teamId, userId: ids.bob });
  check(!add.error && add.data.teamId === teamId && add.data.userId === ids.bob, `add-team-member failed: ${show(add)}`);
  const teams = await alice.organization.listTeams({ query: { organizationId: orgId } });
  check(!teams.error && teams.data.length === 1 && teams.data[0].id === teamId, `list-teams: ${show(teams)}`);
  const bobs = await bob.organization.listUserTeams();
  check(!bobs.error && bobs.data.some((x) => x.id === teamId), `list-user-teams: ${show(bobs)}`);
  const active = await bob.organization.setActiveTeam({ teamId });
  check(!active.error && active.data?.id === teamId, `set-active-team failed: ${show(active)}`);
  const s = await bob.getSession();
  check(s.data?.session.activeTeamId === teamId, `active team in the session: ${show(s)}`);
}

// 10. Clearing and setting the active organization.
{
  const off = await alice.organization.setActive({ organizationId: null });
  check(!off.error && off.data === null, `set-active null: ${show(off)}`);
  const s = await alice.getSession();
  check(s.data && s.data.session.activeOrganizationId === null, `no active organization: ${show(s)}`);
  const on = await alice.organization.setActive({ organizationId: orgId });
  check(!on.error && on.data?.id === orgId, `set-active failed: ${show(on)}`);
  check((await alice.getSession()).data?.session.activeOrganizationId === orgId, "organization active again");
}

// 11. Platform roles and bans.
{
  const up = await admin.admin.setRole({ userId: ids.carol, role: "admin" });
  check(!up.error && up.data.user.role === "admin", `set-role admin: ${show(up)}`);
  const down = await admin.admin.setRole({ userId: ids.carol, role: "user" });
  check(!down.error && down.data.user.role === "user", `set-role user: ${show(down)}`);
  const ban = await admin.admin.banUser({ userId: ids.carol, banReason: "spam", banExpiresIn: 3600 });
  check(!ban.error && ban.data.user.banned === true, `ban-user failed: ${show(ban)}`);
  check(ban.data.user.banReason === "spam" && !Number.isNaN(Date.parse(ban.data.user.banExpires)), `ban reason and expiry: ${show(ban)}`);
  const gone = await carol.getSession();
  check(!gone.error && gone.data === null, `banned user's session ended: ${show(gone)}`);
  const refusedSignIn = await newClient().client.signIn.email({ email: emails.carol, password });
  check(refused(refusedSignIn, 403, "BANNED_USER"), `banned user signing in: ${show(refusedSignIn)}`);
  const unban = await admin.admin.unbanUser({ userId: ids.carol });
  check(!unban.error && !unban.data.user.banned, `unban-user failed: ${show(unban)}`);
  const back = await carol.signIn.email({ email: emails.carol, password });
  check(!back.error && back.data.user.id === ids.carol, `carol signs in after the unban: ${show(back)}`);
}

// 12. Impersonation.
{
  const r = await admin.admin.impersonateUser({ userId: ids.bob });
  check(!r.error && r.data.session.impersonatedBy === adminId, `impersonate-user failed: ${show(r)}`);
  check(r.data.user.id === ids.bob, `impersonating bob: ${show(r)}`);
  const s = await admin.getSession();
  check(s.data?.user.id === ids.bob && s.data.session.impersonatedBy === adminId, `session is bob's, impersonated: ${show(s)}`);
  const denied = await admin.admin.listUsers();
  check(refused(denied, 403), `admin actions are refused while impersonating: ${show(denied)}`);
  const stop = await admin.admin.stopImpersonating();
  check(!stop.error && stop.data.user?.email === adminEmail, `stop-impersonating failed: ${show(stop)}`);
  const mine = await admin.getSession();
  check(mine.data?.user.id === adminId && !mine.data.session.impersonatedBy, `the admin's own session again: ${show(mine)}`);
}

// 13. An admin ends a user's sessions.
{
  const list = await admin.admin.listUserSessions({ userId: ids.bob });
  check(!list.error && list.data.sessions.length > 0 && list.data.sessions.every((x) => x.userId === ids.bob), `list-user-sessions: ${show(list)}`);
  check(!list.data.sessions.some((x) => x.impersonatedBy), `the impersonation session ended with stop-impersonating: ${show(list)}`);
  const r = await admin.admin.revokeUserSessions({ userId: ids.bob });
  check(!r.error && r.data.success === true, `revoke-user-sessions failed: ${show(r)}`);
  const s = await bob.getSession();
  check(!s.error && s.data === null, `bob signed out: ${show(s)}`);
}

// 14. A non-admin may not use admin routes.
{
  const r = await alice.admin.listUsers({ query: {} });
  check(refused(r, 403, "YOU_ARE_NOT_ALLOWED_TO_PERFORM_THIS_ADMIN_ACTION"), `non-admin list-users: ${show(r)}`);
}

// 15. The owner deletes the organization.
{
  const r = await alice.organization.delete({ organizationId: orgId });
  check(!r.error && r.data.id === orgId, `organization/delete failed: ${show(r)}`);
  const list = await alice.organization.list();
  check(!list.error && list.data.length === 0, `no organizations left: ${show(list)}`);
}

console.log(`better-auth organization and admin clients against Kavach: ${checks} checks passed`);
