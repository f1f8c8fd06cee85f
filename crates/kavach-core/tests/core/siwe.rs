//! Sign-In with Ethereum: signatures really verified (research/kavachos.md §11: any
//! signature of ten characters or more was accepted), nonces issued by the server, stored
//! hashed and single use (KavachOS kept them in process memory), the message's domain,
//! chain and times checked, contract wallets through EIP-1271, wallets linked to users,
//! and two-factor enforced on a wallet's sign-in.

use crate::two_factor::{code, secret_of};
use crate::*;
use kavach_core::plugins::siwe::{CheckFuture, ContractWallets, VerifyRequest, message};
use kavach_core::plugins::two_factor::{Caller, Proof, SignInStep};
use kavach_testkit::wallet::{SigningKey, address, key, sign};
use std::sync::Arc;

async fn users(db: &kavach_core::store::Db) -> i64 {
    kavach_core::db!(db, |pool| { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM kavach_user").fetch_one(pool).await.unwrap() })
}

fn on() -> kavach_core::Options {
    let mut o = options();
    o.siwe.enabled = true;
    o.two_factor.enabled = true;
    o.session.cache_ttl = Duration::ZERO;
    o
}

fn rfc3339(offset_secs: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs)).format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// The message viem's `createSiweMessage` writes, for `domain` and `chain`.
fn msg(address: &str, nonce: &str, domain: &str, chain: u64, issued_offset: i64, tail: &str) -> String {
    format!(
        "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nSign in to the test app\n\nURI: http://{domain}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {}{tail}",
        rfc3339(issued_offset)
    )
}

/// A signed sign-in request of `k` on `chain`, with a fresh nonce.
async fn signed(t: &kavach_testkit::T, k: &SigningKey, chain: u64) -> VerifyRequest {
    let nonce = t.core.siwe().nonce().await.unwrap();
    let text = msg(&address(k), &nonce, "localhost:3000", chain, 0, "");
    VerifyRequest { signature: sign(k, &text), message: text, email: None }
}

fn signed_in(step: SignInStep) -> kavach_core::SignedIn {
    match step {
        SignInStep::SignedIn(s) => s,
        SignInStep::TwoFactor(_) => panic!("a second factor was asked"),
    }
}

dual!(kavachos_siwe_any_signature_accepted_is_refused_the_signer_must_be_the_address, on(), |t| {
    let (alice, mallory) = (key(1), key(2));
    let nonce = t.core.siwe().nonce().await.unwrap();
    let text = msg(&address(&alice), &nonce, "localhost:3000", 1, 0, "");
    // KavachOS accepted any signature of ten or more characters.
    let fake = VerifyRequest { message: text.clone(), signature: "0x0123456789abcdef".into(), email: None };
    assert_eq!(t.core.siwe().verify(&fake, &ctx()).await.unwrap_err().code, "INVALID_SIWE_SIGNATURE");
    // Mallory signs a message naming Alice's address.
    let nonce = t.core.siwe().nonce().await.unwrap();
    let text = msg(&address(&alice), &nonce, "localhost:3000", 1, 0, "");
    let forged = VerifyRequest { signature: sign(&mallory, &text), message: text.clone(), email: None };
    assert_eq!(t.core.siwe().verify(&forged, &ctx()).await.unwrap_err().code, "INVALID_SIWE_SIGNATURE");
    // A valid signature over another text does not cover this one.
    let nonce = t.core.siwe().nonce().await.unwrap();
    let text = msg(&address(&alice), &nonce, "localhost:3000", 1, 0, "");
    let other = VerifyRequest { signature: sign(&alice, &text.replace("Sign in to", "Sign in at")), message: text, email: None };
    assert_eq!(t.core.siwe().verify(&other, &ctx()).await.unwrap_err().code, "INVALID_SIWE_SIGNATURE");
    assert_eq!(users(t.core.db()).await, 0, "no user for a refused signature");
});

dual!(kavachos_siwe_in_memory_nonces_are_server_issued_stored_hashed_and_single_use, on(), |t| {
    let alice = key(1);
    let req = signed(&t, &alice, 1).await;
    let nonce = req.message.split("Nonce: ").nth(1).unwrap().split('\n').next().unwrap().to_owned();
    assert!(nonce.len() >= 8 && nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    let stored = scalar_text(t.core.db(), "SELECT identifier FROM kavach_verification WHERE identifier LIKE 'siwe-nonce:%'").await.unwrap();
    assert!(!stored.contains(&nonce), "only the nonce's hash is stored");
    signed_in(t.core.siwe().verify(&req, &ctx()).await.unwrap().step);
    assert_eq!(t.core.siwe().verify(&req, &ctx()).await.unwrap_err().code, "UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE", "a replay");
    // A nonce the client made up.
    let text = msg(&address(&alice), "madeup12345678", "localhost:3000", 1, 0, "");
    let made_up = VerifyRequest { signature: sign(&alice, &text), message: text, email: None };
    assert_eq!(t.core.siwe().verify(&made_up, &ctx()).await.unwrap_err().code, "UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE");
});

dual!(
    the_message_domain_chain_and_times_are_checked_and_malformed_messages_refused,
    {
        let mut o = on();
        o.siwe.chain_ids = vec![1, 10];
        o
    },
    |t| {
        let alice = key(1);
        let cases: [(&str, u64, i64, String, &str); 6] = [
            ("evil.example", 1, 0, String::new(), "UNAUTHORIZED_SIWE_MESSAGE_MISMATCH"),
            ("localhost:3000", 137, 0, String::new(), "UNAUTHORIZED_SIWE_MESSAGE_MISMATCH"),
            ("localhost:3000", 1, 0, format!("\nExpiration Time: {}", rfc3339(-5)), "UNAUTHORIZED_SIWE_MESSAGE_EXPIRED"),
            ("localhost:3000", 1, -3600, String::new(), "UNAUTHORIZED_SIWE_MESSAGE_EXPIRED"),
            ("localhost:3000", 1, 0, format!("\nNot Before: {}", rfc3339(300)), "UNAUTHORIZED_SIWE_MESSAGE_NOT_YET_VALID"),
            ("localhost:3000", 1, 600, String::new(), "UNAUTHORIZED_SIWE_MESSAGE_NOT_YET_VALID"),
        ];
        for (domain, chain, issued, tail, expected) in cases {
            let nonce = t.core.siwe().nonce().await.unwrap();
            let text = msg(&address(&alice), &nonce, domain, chain, issued, &tail);
            let req = VerifyRequest { signature: sign(&alice, &text), message: text, email: None };
            assert_eq!(t.core.siwe().verify(&req, &ctx()).await.unwrap_err().code, expected, "{domain} {chain} {issued} {tail}");
        }
        let nonce = t.core.siwe().nonce().await.unwrap();
        let text = msg(&address(&alice), &nonce, "localhost:3000", 1, 0, "").replace("Version: 1", "Version: 2");
        let req = VerifyRequest { signature: sign(&alice, &text), message: text, email: None };
        assert_eq!(t.core.siwe().verify(&req, &ctx()).await.unwrap_err().code, "INVALID_SIWE_MESSAGE");
        // Chain 10 is allowed, and the domain compares without case.
        let nonce = t.core.siwe().nonce().await.unwrap();
        let text = msg(&address(&alice), &nonce, "LocalHost:3000", 10, 0, "");
        let req = VerifyRequest { signature: sign(&alice, &text), message: text, email: None };
        assert_eq!(t.core.siwe().verify(&req, &ctx()).await.unwrap().wallet.chain_id, 10);
    }
);

dual!(a_wallet_signs_in_its_one_user_on_every_chain_and_an_email_someone_holds_is_never_claimed, on(), |t| {
    let owner = t.core.users().create(NewUser { email: "taken@example.com".into(), name: "Owner".into(), ..Default::default() }, &ctx()).await.unwrap();
    let alice = key(1);
    let mut req = signed(&t, &alice, 1).await;
    req.email = Some("Taken@example.com".into());
    let first = t.core.siwe().verify(&req, &ctx()).await.unwrap();
    assert!(first.new_user && first.wallet.is_primary && first.wallet.address == address(&alice));
    let user = signed_in(first.step).user;
    assert_ne!(user.id, owner.id, "an unverified claim to an address never links to its holder");
    assert_eq!(user.email, format!("{}@siwe.placeholder.invalid", address(&alice).to_lowercase()));
    assert!(!user.email_verified);
    let again = t.core.siwe().verify(&signed(&t, &alice, 1).await, &ctx()).await.unwrap();
    assert!(!again.new_user);
    assert_eq!(signed_in(again.step).user.id, user.id);
    // The same key on another chain is the same account, its wallet now linked there too.
    let other_chain = t.core.siwe().verify(&signed(&t, &alice, 8453).await, &ctx()).await.unwrap();
    assert_eq!((signed_in(other_chain.step).user.id, other_chain.wallet.is_primary), (user.id.clone(), false));
    assert_eq!(t.core.siwe().wallets(&user.id).await.unwrap().len(), 2);
    // A new wallet with a free address keeps it, unverified.
    let mut req = signed(&t, &key(3), 1).await;
    req.email = Some("bob@example.com".into());
    let bob = signed_in(t.core.siwe().verify(&req, &ctx()).await.unwrap().step).user;
    assert_eq!((bob.email.as_str(), bob.email_verified), ("bob@example.com", false));
    assert_eq!(audit_kinds(t.core.db()).await.iter().filter(|k| *k == "wallet.linked").count(), 3);
});

dual!(
    without_sign_up_an_unknown_wallet_is_refused_and_with_email_required_it_must_give_one,
    {
        let mut o = on();
        o.siwe.allow_sign_up = false;
        o.siwe.email_required = true;
        o
    },
    |t| {
        let mut req = signed(&t, &key(1), 1).await;
        assert_eq!(t.core.siwe().verify(&req, &ctx()).await.unwrap_err().code, "INVALID_EMAIL");
        req.email = Some("new@example.com".into());
        assert_eq!(t.core.siwe().verify(&req, &ctx()).await.unwrap_err().code, "SIGN_UP_DISABLED");
        assert_eq!(users(t.core.db()).await, 0);
    }
);

dual!(totp_on_a_wallet_user_leaves_a_wallet_sign_in_pending_until_the_second_factor, on(), |t| {
    let alice = key(1);
    let s = signed_in(t.core.siwe().verify(&signed(&t, &alice, 1).await, &ctx()).await.unwrap().step);
    // A wallet user has no password: a fresh session enables two-factor.
    let out = t.core.two_factor().enable(&s.user, &s.session.session, None, "totp", None, &ctx()).await.unwrap();
    let secret = secret_of(out.totp_uri.as_deref().unwrap());
    t.core.two_factor().verify(Caller::Session(&s.user), Proof::Totp(&code(&secret, -1)), false, &ctx()).await.unwrap();
    let step = t.core.siwe().verify(&signed(&t, &alice, 1).await, &ctx()).await.unwrap().step;
    let SignInStep::TwoFactor(p) = step else { panic!("a wallet alone signed in a user with TOTP on") };
    let done = t.core.two_factor().verify(Caller::Pending(&p.token), Proof::Totp(&code(&secret, 0)), false, &ctx()).await.unwrap();
    assert!(done.session.is_some());
});

/// A contract wallet that accepts one signature for one hash.
struct OneContract {
    address: [u8; 20],
    hash: std::sync::Mutex<Option<[u8; 32]>>,
}

impl ContractWallets for OneContract {
    fn is_valid_signature<'a>(&'a self, chain_id: u64, address: &'a [u8; 20], hash: &'a [u8; 32], signature: &'a [u8]) -> Option<CheckFuture<'a>> {
        (chain_id == 1).then(|| {
            let ok = *address == self.address && signature == b"\xca\xfe" && self.hash.lock().unwrap().is_none_or(|h| h == *hash);
            *self.hash.lock().unwrap() = Some(*hash);
            Box::pin(async move { Ok(ok) }) as CheckFuture<'a>
        })
    }
}

dual!(a_contract_wallet_signs_in_through_eip1271_and_only_through_it, on(), |t| {
    let contract = message::parse_address("0x00000000000000000000000000000000000000ca").unwrap();
    let contract_text = message::checksummed(&contract);
    let nonce = t.core.siwe().nonce().await.unwrap();
    let text = msg(&contract_text, &nonce, "localhost:3000", 1, 0, "");
    let req = VerifyRequest { message: text, signature: "0xcafe".into(), email: None };
    assert_eq!(t.core.siwe().verify(&req, &ctx()).await.unwrap_err().code, "INVALID_SIWE_SIGNATURE", "no RPC endpoint: refused");
    let core = kavach_core::Core::new(t.db.clone(), on(), Arc::new(t.mail.clone()), kavach_core::email::Templates::load(None).unwrap(), None)
        .unwrap()
        .with_contract_wallets(Arc::new(OneContract { address: contract, hash: Default::default() }));
    let nonce = core.siwe().nonce().await.unwrap();
    let text = msg(&contract_text, &nonce, "localhost:3000", 1, 0, "");
    let ok = core.siwe().verify(&VerifyRequest { message: text, signature: "0xcafe".into(), email: None }, &ctx()).await.unwrap();
    assert_eq!(ok.wallet.address, contract_text);
    let nonce = core.siwe().nonce().await.unwrap();
    let text = msg(&contract_text, &nonce, "localhost:3000", 1, 0, "");
    let bad = VerifyRequest { message: text, signature: "0xbeef".into(), email: None };
    assert_eq!(core.siwe().verify(&bad, &ctx()).await.unwrap_err().code, "INVALID_SIWE_SIGNATURE");
});

dual!(wallets_are_linked_with_a_fresh_session_never_to_two_users_and_a_last_way_in_is_kept, on(), |t| {
    let up = t.core.email_password().sign_up(sign_up("pat@example.com", PW), &ctx()).await.unwrap();
    let pat = up.session.expect("signed in");
    let alice = key(1);
    let req = signed(&t, &alice, 1).await;
    let w = t.core.siwe().link(&pat.session, &req.message, &req.signature, &ctx()).await.unwrap();
    assert!(w.is_primary);
    let again = signed(&t, &alice, 1).await;
    t.core.siwe().link(&pat.session, &again.message, &again.signature, &ctx()).await.unwrap();
    assert_eq!(t.core.siwe().wallets(&up.user.id).await.unwrap().len(), 1, "linking twice is one wallet");
    // The wallet now signs Pat in.
    assert_eq!(signed_in(t.core.siwe().verify(&signed(&t, &alice, 1).await, &ctx()).await.unwrap().step).user.id, up.user.id);
    // Another user cannot take it.
    let other = t.core.email_password().sign_up(sign_up("sam@example.com", PW), &ctx()).await.unwrap().session.unwrap();
    let req = signed(&t, &alice, 1).await;
    assert_eq!(t.core.siwe().link(&other.session, &req.message, &req.signature, &ctx()).await.unwrap_err().code, "WALLET_ALREADY_LINKED");
    // Pat has a password: the wallet can go.
    assert_eq!(t.core.siwe().unlink(&pat.session, &address(&alice).to_lowercase(), 2, &ctx()).await.unwrap_err().code, "WALLET_NOT_FOUND");
    t.core.siwe().unlink(&pat.session, &address(&alice), 1, &ctx()).await.unwrap();
    assert!(t.core.siwe().wallets(&up.user.id).await.unwrap().is_empty());
    // A wallet-only user keeps their last wallet.
    let bob = key(4);
    let s = signed_in(t.core.siwe().verify(&signed(&t, &bob, 1).await, &ctx()).await.unwrap().step);
    assert_eq!(t.core.siwe().unlink(&s.session.session, &address(&bob), 1, &ctx()).await.unwrap_err().code, "LAST_SIGN_IN_METHOD");
    assert_eq!(audit_kinds(t.core.db()).await.iter().filter(|k| *k == "wallet.unlinked").count(), 1);
});
