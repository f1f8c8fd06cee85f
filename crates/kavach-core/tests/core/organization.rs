//! Organizations: the owner rule, privilege rules (better-auth #9483, #6081), invitations,
//! teams, roles defined per organization, deletion.

use crate::*;
use kavach_core::access::Permissions;
use kavach_core::plugins::organization::{Actor, AddMember, Invite, NewOrganization};
use kavach_core::{Code, User};
use serde_json::json;

fn orgs_on() -> kavach_core::Options {
    let mut o = options();
    o.organization.enabled = true;
    o.organization.dynamic_roles = true;
    o
}

async fn user(t: &kavach_testkit::T, email: &str, verified: bool) -> User {
    let new =
        NewUser { email: email.into(), name: email.split('@').next().unwrap_or("").into(), password: Some(PW.into()), email_verified: verified, image: None };
    t.core.users().create(new, &ctx()).await.unwrap()
}

fn perms(v: serde_json::Value) -> Permissions {
    Permissions::parse(&v).unwrap()
}

/// alice owns Acme; bob is an admin and carol a member of it.
async fn acme(t: &kavach_testkit::T) -> (String, User, User, User) {
    let (alice, bob, carol) = (user(t, "alice@example.com", true).await, user(t, "bob@example.com", true).await, user(t, "carol@example.com", true).await);
    let org = t.core.organizations().create(Actor::User(&alice), NewOrganization { name: "Acme Corp".into(), ..Default::default() }, &ctx()).await.unwrap();
    assert_eq!(org.slug, "acme-corp");
    for (u, role) in [(&bob, "admin"), (&carol, "member")] {
        let add = AddMember { organization_id: org.id.clone(), user_id: u.id.clone(), role: vec![role.into()], team_id: None };
        t.core.organizations().add_member(Actor::Server, add, &ctx()).await.unwrap();
    }
    (org.id, alice, bob, carol)
}

fn code(e: kavach_core::Error) -> Code {
    Code::parse(&e.code).unwrap_or_else(|| panic!("not a Kavach code: {}", e.code))
}

dual!(privilege_a_member_cannot_raise_their_role_and_an_admin_cannot_remove_the_last_owner, orgs_on(), |t| {
    let (org, alice, bob, carol) = acme(&t).await;
    let o = t.core.organizations();
    let m = |u: &User| u.id.clone();
    // A member cannot raise their own role, nor an admin make themselves owner.
    assert_eq!(code(o.update_member_role(Actor::User(&carol), &org, &m(&carol), &["admin".into()], &ctx()).await.unwrap_err()), Code::MemberUpdateNotAllowed);
    assert_eq!(code(o.update_member_role(Actor::User(&bob), &org, &m(&bob), &["owner".into()], &ctx()).await.unwrap_err()), Code::MemberUpdateNotAllowed);
    // An admin cannot remove or demote the owner, nor delete the organization (#9483).
    assert_eq!(code(o.remove_member(Actor::User(&bob), &org, "alice@example.com", &ctx()).await.unwrap_err()), Code::MemberDeleteNotAllowed);
    assert_eq!(code(o.update_member_role(Actor::User(&bob), &org, &m(&alice), &["member".into()], &ctx()).await.unwrap_err()), Code::MemberUpdateNotAllowed);
    assert_eq!(code(o.delete(Actor::User(&bob), &org, &ctx()).await.unwrap_err()), Code::OrganizationDeleteNotAllowed);
    // The last owner can neither leave nor demote themselves.
    assert_eq!(code(o.leave(&alice, &org, &ctx()).await.unwrap_err()), Code::LastOwner);
    assert_eq!(code(o.update_member_role(Actor::User(&alice), &org, &m(&alice), &["admin".into()], &ctx()).await.unwrap_err()), Code::LastOwner);
    // An admin may manage members below them.
    let carol_admin = o.update_member_role(Actor::User(&bob), &org, "carol@example.com", &["admin".into()], &ctx()).await.unwrap();
    assert_eq!(carol_admin.role, "admin");
    assert!(o.has_permission(&bob.id, &org, &perms(json!({"member": ["create", "delete"]}))).await.unwrap());
    assert!(!o.has_permission(&bob.id, &org, &perms(json!({"organization": ["delete"]}))).await.unwrap());
    // With a second owner, the first can step down; the owner rule follows the role.
    o.update_member_role(Actor::User(&alice), &org, &m(&bob), &["owner".into()], &ctx()).await.unwrap();
    o.update_member_role(Actor::User(&alice), &org, &m(&alice), &["member".into()], &ctx()).await.unwrap();
    assert!(!o.has_permission(&alice.id, &org, &perms(json!({"organization": ["update"]}))).await.unwrap());
    o.delete(Actor::User(&bob), &org, &ctx()).await.unwrap();
    assert!(o.get(&org).await.unwrap().is_none());
});

dual!(a_member_whose_role_is_not_defined_gets_role_not_found_not_false, orgs_on(), |t| {
    let (org, _, _, carol) = acme(&t).await;
    exec(&t.db, &format!("UPDATE kavach_member SET role = 'ghost' WHERE user_id = '{}'", carol.id)).await;
    let e = t.core.organizations().has_permission(&carol.id, &org, &perms(json!({"ac": ["read"]}))).await.unwrap_err();
    assert_eq!(code(e), Code::RoleNotFound);
    // Inviting or granting an undefined role is refused the same way.
    let e = t.core.organizations().update_member_role(Actor::Server, &org, &carol.id, &["nobody".into()], &ctx()).await.unwrap_err();
    assert_eq!(code(e), Code::RoleNotFound);
});

dual!(tenant_isolation_members_of_one_organization_see_nothing_of_another, orgs_on(), |t| {
    let (a, alice, bob, _) = acme(&t).await;
    let mallory = user(&t, "mallory@example.com", true).await;
    let b = t.core.organizations().create(Actor::User(&mallory), NewOrganization { name: "Beta".into(), ..Default::default() }, &ctx()).await.unwrap();
    let o = t.core.organizations();
    for who in [&alice, &bob] {
        let me = Actor::User(who);
        assert_eq!(code(o.get_full(me, &b.id).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.get_full(me, "beta").await.unwrap_err()), Code::NotAMember, "by slug");
        assert_eq!(code(o.members(me, &b.id, 10, 0).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.list_invitations(me, &b.id).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.list_teams(me, &b.id).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.update(me, &b.id, Default::default(), &ctx()).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.delete(me, &b.id, &ctx()).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.remove_member(me, &b.id, "mallory@example.com", &ctx()).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.has_permission(&who.id, &b.id, &perms(json!({"ac": ["read"]}))).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.create_team(me, &b.id, "x", &ctx()).await.unwrap_err()), Code::NotAMember);
        assert_eq!(code(o.list_roles(me, &b.id).await.unwrap_err()), Code::NotAMember);
        // The same answer for an organization that does not exist.
        assert_eq!(code(o.get_full(me, "no-such-org").await.unwrap_err()), Code::NotAMember);
    }
    // B's team and invitation ids, used from A: not found.
    let team = o.create_team(Actor::User(&mallory), &b.id, "Red", &ctx()).await.unwrap();
    let inv = o
        .invite(
            Actor::User(&mallory),
            Invite { organization_id: b.id.clone(), email: "x@example.com".into(), role: vec!["member".into()], ..Default::default() },
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(code(o.list_team_members(Actor::User(&alice), &team.id).await.unwrap_err()), Code::TeamNotFound);
    assert_eq!(code(o.add_team_member(Actor::User(&alice), &team.id, &alice.id, &ctx()).await.unwrap_err()), Code::TeamNotFound);
    assert_eq!(code(o.cancel_invitation(Actor::User(&alice), &inv.id, &ctx()).await.unwrap_err()), Code::InvitationNotFound);
    // A's admin inviting into A with B's team: refused.
    let e = o
        .invite(
            Actor::User(&bob),
            Invite { organization_id: a, email: "y@example.com".into(), role: vec!["member".into()], team_id: Some(team.id), resend: false },
            &ctx(),
        )
        .await;
    assert_eq!(code(e.unwrap_err()), Code::TeamNotFound);
});

fn short_invitations() -> kavach_core::Options {
    let mut o = orgs_on();
    o.organization.invitation_ttl = Duration::from_secs(1);
    o
}

dual!(invitations_refuse_wrong_unverified_expired_cancelled_and_reused, orgs_on(), |t| {
    let (org, alice, bob, _) = acme(&t).await;
    let o = t.core.organizations();
    let invite = |email: &str, role: &str| Invite { organization_id: org.clone(), email: email.into(), role: vec![role.into()], ..Default::default() };
    // An admin cannot invite an owner; a role above one's own is refused.
    assert_eq!(code(o.invite(Actor::User(&bob), invite("dave@example.com", "owner"), &ctx()).await.unwrap_err()), Code::InviteRoleNotAllowed);
    let inv = o.invite(Actor::User(&bob), invite("Dave@Example.com", "admin"), &ctx()).await.unwrap();
    assert_eq!(inv.email, "dave@example.com");
    let mail = t.mail.wait_for("dave@example.com", "invited you to Acme Corp").await;
    assert!(mail.text.contains(&format!("/organization/invitation/{}", inv.id)), "{}", mail.text);
    assert_eq!(code(o.invite(Actor::User(&bob), invite("dave@example.com", "member"), &ctx()).await.unwrap_err()), Code::AlreadyInvited);
    // Wrong email, then unverified email.
    let eve = user(&t, "eve@example.com", true).await;
    assert_eq!(code(o.accept_invitation(&eve, None, &inv.id, &ctx()).await.unwrap_err()), Code::NotInvitationRecipient);
    let dave = user(&t, "dave@example.com", false).await;
    assert_eq!(code(o.accept_invitation(&dave, None, &inv.id, &ctx()).await.unwrap_err()), Code::InvitationNeedsVerifiedEmail);
    exec(&t.db, "UPDATE kavach_user SET email_verified = TRUE WHERE email = 'dave@example.com'").await;
    let dave = t.core.users().get(&dave.id).await.unwrap().unwrap();
    let (accepted, member) = o.accept_invitation(&dave, None, &inv.id, &ctx()).await.unwrap();
    assert_eq!((accepted.status.as_str(), member.role.as_str()), ("accepted", "admin"));
    // Reused.
    assert_eq!(code(o.accept_invitation(&dave, None, &inv.id, &ctx()).await.unwrap_err()), Code::InvitationNotFound);
    // Cancelled.
    let inv2 = o.invite(Actor::User(&alice), invite("eve@example.com", "member"), &ctx()).await.unwrap();
    o.cancel_invitation(Actor::User(&alice), &inv2.id, &ctx()).await.unwrap();
    assert_eq!(code(o.accept_invitation(&eve, None, &inv2.id, &ctx()).await.unwrap_err()), Code::InvitationNotFound);
    // Rejected invitations are closed too.
    let inv3 = o.invite(Actor::User(&alice), invite("eve@example.com", "member"), &ctx()).await.unwrap();
    o.reject_invitation(&eve, &inv3.id, &ctx()).await.unwrap();
    assert_eq!(code(o.accept_invitation(&eve, None, &inv3.id, &ctx()).await.unwrap_err()), Code::InvitationNotFound);
    // An unknown id.
    assert_eq!(code(o.accept_invitation(&eve, None, "no-such-invitation", &ctx()).await.unwrap_err()), Code::InvitationNotFound);
    let kinds = audit_kinds(&t.db).await;
    for k in ["organization.invitation_created", "organization.invitation_accepted", "organization.invitation_canceled", "organization.invitation_rejected"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
});

dual!(an_expired_invitation_cannot_be_accepted, short_invitations(), |t| {
    let (org, alice, _, _) = acme(&t).await;
    let inv = t
        .core
        .organizations()
        .invite(
            Actor::User(&alice),
            Invite { organization_id: org, email: "late@example.com".into(), role: vec!["member".into()], ..Default::default() },
            &ctx(),
        )
        .await
        .unwrap();
    let late = user(&t, "late@example.com", true).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(code(t.core.organizations().accept_invitation(&late, None, &inv.id, &ctx()).await.unwrap_err()), Code::InvitationNotFound);
});

fn small_limits() -> kavach_core::Options {
    let mut o = orgs_on();
    o.organization.teams.max_teams = 1;
    o.organization.teams.max_members_per_team = 1;
    o.organization.membership_limit = 3;
    o
}

dual!(teams_roles_and_limits, small_limits(), |t| {
    let (org, alice, bob, carol) = acme(&t).await;
    let o = t.core.organizations();
    // The membership limit (3) is reached.
    let dave = user(&t, "dave@example.com", true).await;
    let add = AddMember { organization_id: org.clone(), user_id: dave.id.clone(), role: vec!["member".into()], team_id: None };
    assert_eq!(code(o.add_member(Actor::Server, add, &ctx()).await.unwrap_err()), Code::MembershipLimitReached);
    // Teams: members cannot create them; one team at most; one member per team.
    assert_eq!(code(o.create_team(Actor::User(&carol), &org, "Core", &ctx()).await.unwrap_err()), Code::TeamCreateNotAllowed);
    let team = o.create_team(Actor::User(&bob), &org, "Core", &ctx()).await.unwrap();
    assert_eq!(code(o.create_team(Actor::User(&bob), &org, "Other", &ctx()).await.unwrap_err()), Code::TeamLimitReached);
    o.add_team_member(Actor::User(&bob), &team.id, &carol.id, &ctx()).await.unwrap();
    assert_eq!(code(o.add_team_member(Actor::User(&bob), &team.id, &alice.id, &ctx()).await.unwrap_err()), Code::TeamMemberLimitReached);
    assert_eq!(code(o.add_team_member(Actor::User(&bob), &team.id, &dave.id, &ctx()).await.unwrap_err()), Code::MemberNotFound);
    assert_eq!(o.list_user_teams(&carol.id).await.unwrap().len(), 1);
    // Roles per organization: never above the creator's own permissions.
    let e = o.create_role(Actor::User(&bob), &org, "auditor", perms(json!({"organization": ["delete"]})), &ctx()).await.unwrap_err();
    assert_eq!(code(e), Code::RoleCreateNotAllowed);
    assert_eq!(code(o.create_role(Actor::User(&bob), &org, "admin", perms(json!({"ac": ["read"]})), &ctx()).await.unwrap_err()), Code::RoleNameTaken);
    let r = o.create_role(Actor::User(&bob), &org, "auditor", perms(json!({"member": ["update"]})), &ctx()).await.unwrap();
    o.update_member_role(Actor::User(&bob), &org, &carol.id, &["auditor".into()], &ctx()).await.unwrap();
    assert!(o.has_permission(&carol.id, &org, &perms(json!({"member": ["update"]}))).await.unwrap());
    assert_eq!(code(o.delete_role(Actor::User(&bob), &org, &r.role, &ctx()).await.unwrap_err()), Code::RoleInUse);
    assert_eq!(code(o.delete_role(Actor::User(&bob), &org, "member", &ctx()).await.unwrap_err()), Code::PredefinedRole);
    // Deleting the organization takes its teams, members and roles along.
    o.delete(Actor::User(&alice), &org, &ctx()).await.unwrap();
    for table in ["kavach_member", "kavach_team", "kavach_team_member", "kavach_organization_role", "kavach_invitation"] {
        assert_eq!(scalar_text(&t.db, &format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}")).await.unwrap(), "0", "{table}");
    }
    assert!(audit_kinds(&t.db).await.iter().any(|k| k == "organization.deleted"));
});

dual!(the_active_organization_is_on_the_session_without_another_query, orgs_on(), |t| {
    let alice = user(&t, "alice@example.com", true).await;
    let s = t.core.sessions().create(&alice.id, &ctx(), kavach_core::audit::EventKind::SignInSuccess).await.unwrap();
    let org = t.core.organizations().create(Actor::User(&alice), NewOrganization { name: "Acme".into(), ..Default::default() }, &ctx()).await.unwrap();
    assert!(t.core.sessions().check(&s.token).await.unwrap().unwrap().data.session.active_organization_id.is_none());
    t.core.organizations().set_active(&alice, &s.session, Some(&org.id)).await.unwrap();
    let c = t.core.sessions().check(&s.token).await.unwrap().unwrap();
    assert_eq!(c.data.session.active_organization_id.as_deref(), Some(org.id.as_str()));
    assert!(c.data.json().contains(&format!("\"activeOrganizationId\":\"{}\"", org.id)));
    // Leaving clears it.
    let bob = user(&t, "bob@example.com", true).await;
    assert_eq!(code(t.core.organizations().set_active(&bob, &s.session, Some(&org.id)).await.unwrap_err()), Code::NotAMember);
});
