//! Roles as permission statements (`access::Permissions`, the grammar organization and
//! admin roles share, read from request bodies and stored rows), role lists, and the
//! admin-session cookie read back while an admin impersonates someone.
//!
//! Input: fields `held JSON` 0xFF `asked JSON` 0xFF `role list` 0xFF `cookie value`.

#![no_main]

use kavach_fuzz::access::{Permissions, normalize_roles, role_names, valid_name};
use kavach_fuzz::fields;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn names_valid(p: &Permissions) {
    for (r, actions) in p.as_map() {
        assert!(valid_name(r), "resource {r:?}");
        assert!(actions.iter().all(|a| valid_name(a)), "actions of {r:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fields(data, 4);
    let parse = |t: &str| serde_json::from_str::<Value>(t).ok().map(|v| Permissions::parse(&v));
    let (held, asked) = (parse(&f[0]), parse(&f[1]));
    for p in [&held, &asked].into_iter().flatten() {
        match p {
            Ok(p) => {
                names_valid(p);
                // Stored form reads back the same.
                assert_eq!(Permissions::from_json(&p.to_json()).ok().as_ref(), Some(p));
            }
            Err(e) => assert_eq!(e.code, "INVALID_RESOURCE"),
        }
    }
    if let (Some(Ok(held)), Some(Ok(asked))) = (&held, &asked) {
        let every_list_non_empty = asked.as_map().values().all(|a| !a.is_empty());
        // Asking for nothing is never allowed.
        assert!(!held.allows(&Permissions::default()));
        if held.allows(asked) {
            assert!(asked.within(held), "allowed but not within");
            assert!(asked.as_map().values().any(|a| !a.is_empty()), "allowed an empty request");
        }
        if every_list_non_empty && !asked.as_map().is_empty() {
            assert_eq!(held.allows(asked), asked.within(held), "allows and within disagree");
        }
        // The union holds both.
        let mut both = held.clone();
        both.extend(asked);
        assert!(held.within(&both) && asked.within(&both));
        for (r, actions) in asked.as_map() {
            for a in actions {
                assert!(both.can(r, a));
                assert_eq!(held.can(r, a), held.as_map().get(r).is_some_and(|x| x.contains(a)));
            }
        }
    }
    // Role lists: normalised ones are valid, unique, and normalise to themselves.
    if let Ok(n) = normalize_roles(&[f[2].clone()]) {
        let names: Vec<&str> = role_names(&n).collect();
        assert!(!names.is_empty() && names.iter().all(|r| valid_name(r)));
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), names.len(), "duplicate roles in {n:?}");
        assert_eq!(normalize_roles(&[n.clone()]).ok(), Some(n));
    }
    // The admin-session cookie: only a value Kavach signed reads back.
    let core: &kavach_fuzz::Core = kavach_fuzz::http_core();
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("kavach.admin_session={}", f[3])) {
        headers.insert(http::header::COOKIE, v);
        assert!(kavach_fuzz::cookies::admin_session(core, &headers).is_none(), "an unsigned admin-session cookie was accepted: {:?}", f[3]);
    }
    let token: String = f[3].chars().filter(|c| c.is_ascii_alphanumeric()).take(64).collect();
    if !token.is_empty() {
        let set = kavach_fuzz::cookies::set_admin_session(core, Some(&token), f[2].len() % 2 == 1);
        let pair = set.to_str().unwrap_or_default().split(';').next().unwrap_or_default().to_owned();
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, http::HeaderValue::from_str(&pair).expect("a cookie Kavach sets is a header value"));
        assert_eq!(kavach_fuzz::cookies::admin_session(core, &h), Some((token, f[2].len() % 2 == 1)));
    }
});
