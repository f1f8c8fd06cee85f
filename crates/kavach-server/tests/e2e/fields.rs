//! Additional user fields over HTTP: declared in `kavach.toml`, given at sign-up and in
//! `/update-user` by better-auth's client with `inferAdditionalFields()`, returned as user
//! members; the operator sets what requests cannot with `kavach user set-field`.

use crate::harness::*;
use kavach_testkit::dual;
use serde_json::Value;

fn config() -> String {
    let path = temp_dir().join("kavach.toml");
    std::fs::write(
        &path,
        "[email_password]\nrequire_email_verification = false\n\
         [user.additional_fields.birthdate]\ntype = \"date\"\nrequired = true\n\
         [user.additional_fields.plan]\ntype = \"string\"\ndefault = \"free\"\ninput = false\n\
         [user.additional_fields.newsletter]\ntype = \"boolean\"\n",
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

dual!(better_auth_client_with_additional_fields_works_against_kavach, |db| {
    let cfg = config();
    let s = Server::start(db, &[("KAVACH_CONFIG", &cfg), ("KAVACH_RATE_LIMIT", "off")]);
    let out = better_auth_client(&s, "additional-fields.mjs", &[("EMAIL", "fields@example.com")]);
    assert!(out.contains("additional-fields: 9 checks passed"), "{out}");
    // The operator sets the field requests cannot.
    let env = [("KAVACH_DATABASE_URL", db), ("KAVACH_SECRET", SECRET), ("KAVACH_CONFIG", cfg.as_str())];
    let set = command(&temp_dir(), &env).args(["user", "set-field", "fields@example.com", "plan", "\"pro\""]).output().unwrap();
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let bad = command(&temp_dir(), &env).args(["user", "set-field", "fields@example.com", "plan", "42"]).output().unwrap();
    assert!(!bad.status.success(), "a number for a string field is refused");
    let show = command(&temp_dir(), &env).args(["user", "show", "fields@example.com", "--json"]).output().unwrap();
    let user: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!((user["plan"].as_str(), user["birthdate"].as_str()), (Some("pro"), Some("1990-05-17")), "{user}");
});
