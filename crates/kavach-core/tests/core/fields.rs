//! Additional user fields: declared in the options, checked on every write (sign-up,
//! `/update-user`, the Rust API), defaults for users created by any method, stored in one
//! JSON column (so declarations change without migrations), returned as members of the
//! user object.

use crate::*;
use kavach_core::fields::{FieldSpec, FieldType};
use serde_json::{Map, Value, json};

fn on() -> kavach_core::Options {
    let mut o = options();
    o.session.cache_ttl = Duration::ZERO;
    o.magic_link.enabled = true;
    let f = &mut o.user.additional_fields;
    f.insert("birthdate".into(), FieldSpec { kind: FieldType::Date, required: true, default: Some(json!("2000-01-01")), input: true });
    f.insert("plan".into(), FieldSpec { kind: FieldType::String, required: false, default: Some(json!("free")), input: false });
    f.insert("newsletter".into(), FieldSpec { kind: FieldType::Boolean, required: false, default: None, input: true });
    o
}

fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

dual!(additional_fields_are_checked_at_sign_up_stored_and_returned_as_user_members, on(), |t| {
    let mut req = sign_up("ann@example.com", PW);
    req.fields = map(json!({ "birthdate": "1990-05-17", "newsletter": true }));
    let out = t.core.email_password().sign_up(req, &ctx()).await.unwrap();
    assert_eq!(out.user.fields, map(json!({ "birthdate": "1990-05-17", "newsletter": true, "plan": "free" })));
    let user = serde_json::to_value(&out.user).unwrap();
    assert_eq!((&user["birthdate"], &user["plan"], &user["email"]), (&json!("1990-05-17"), &json!("free"), &json!("ann@example.com")));
    // Read back from the database (and through a session).
    let s = out.session.unwrap();
    let checked = t.core.sessions().check(&s.token).await.unwrap().unwrap();
    assert_eq!(checked.data.user.fields["birthdate"], "1990-05-17");
    for (fields, code) in [
        (json!({ "birthdate": "not a date" }), "VALIDATION_ERROR"),
        (json!({ "newsletter": "yes" }), "VALIDATION_ERROR"),
        (json!({ "plan": "pro" }), "FIELD_NOT_ALLOWED"),
        (json!({ "nickname": "x" }), "VALIDATION_ERROR"),
    ] {
        let mut req = sign_up("bad@example.com", PW);
        req.fields = map(fields.clone());
        assert_eq!(t.core.email_password().sign_up(req, &ctx()).await.unwrap_err().code, code, "{fields}");
    }
    assert!(t.core.users().get_by_email("bad@example.com").await.unwrap().is_none(), "nothing half-written");
});

dual!(additional_fields_are_checked_on_update_and_the_server_may_set_what_requests_cannot, on(), |t| {
    let out = t.core.email_password().sign_up(sign_up("bo@example.com", PW), &ctx()).await.unwrap();
    let id = out.user.id.clone();
    assert_eq!(out.user.fields["birthdate"], "2000-01-01", "the default");
    let u = t.core.users().update_from_request(&id, None, None, Some(&map(json!({ "newsletter": false }))), &ctx()).await.unwrap();
    assert_eq!(u.fields, map(json!({ "birthdate": "2000-01-01", "plan": "free", "newsletter": false })));
    for (v, expected) in
        [(json!({ "plan": "pro" }), "FIELD_NOT_ALLOWED"), (json!({ "birthdate": null }), "VALIDATION_ERROR"), (json!({ "newsletter": 1 }), "VALIDATION_ERROR")]
    {
        let err = t.core.users().update_from_request(&id, Some("Renamed"), None, Some(&map(v.clone())), &ctx()).await.unwrap_err();
        assert_eq!(err.code, expected, "{v}");
    }
    assert_eq!(t.core.users().get(&u.id).await.unwrap().unwrap().name, "Test", "nothing changed with a refused field");
    let u = t.core.users().update_fields(&u.id, &map(json!({ "plan": "pro", "newsletter": null })), &ctx()).await.unwrap();
    assert_eq!(u.fields, map(json!({ "birthdate": "2000-01-01", "plan": "pro" })));
});

dual!(users_created_by_other_methods_get_the_defaults_and_dropped_declarations_go_at_the_next_write, on(), |t| {
    t.core.magic_link().send(&kavach_core::plugins::magic_link::LinkRequest { email: "cy@example.com".into(), ..Default::default() }, &ctx()).await.unwrap();
    let token = link_token(&t.mail.wait_for("cy@example.com", "Sign in to").await);
    let out = t.core.magic_link().verify(&token, None, &ctx()).await.unwrap();
    let kavach_core::plugins::two_factor::SignInStep::SignedIn(s) = out.step else { panic!() };
    assert_eq!(s.user.fields, map(json!({ "birthdate": "2000-01-01", "plan": "free" })));
    // The app stops declaring `plan`: no migration; the value goes at the user's next write.
    let mut o = on();
    o.user.additional_fields.remove("plan");
    let core = kavach_core::Core::new(t.db.clone(), o, std::sync::Arc::new(t.mail.clone()), kavach_core::email::Templates::load(None).unwrap(), None).unwrap();
    let u = core.users().update_from_request(&s.user.id, None, None, Some(&map(json!({ "newsletter": true }))), &ctx()).await.unwrap();
    assert_eq!(u.fields, map(json!({ "birthdate": "2000-01-01", "newsletter": true })));
});
