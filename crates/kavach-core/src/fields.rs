//! Additional user fields (`[user.additional_fields.<name>]`, better-auth's
//! `user.additionalFields`): fields an app declares with a type, whether they are
//! required, a default, and whether requests may set them. Their values live in one JSON
//! object per user (`kavach_user.additional_fields`), so declaring, changing or dropping a
//! field needs no migration; every write is checked against the declarations here.

use crate::error::{Code, Error, Result};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A field's type, as better-auth names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum FieldType {
    #[serde(rename = "string")]
    String,
    #[serde(rename = "number")]
    Number,
    #[serde(rename = "boolean")]
    Boolean,
    /// An RFC 3339 date-time (or a full date, `2001-02-03`), kept as given.
    #[serde(rename = "date")]
    Date,
    #[serde(rename = "string[]")]
    Strings,
    #[serde(rename = "number[]")]
    Numbers,
}

/// One declared field.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Sign-up must give it (unless it has a default); it cannot be removed.
    #[serde(default)]
    pub required: bool,
    /// The value of users created without one.
    #[serde(default)]
    pub default: Option<Value>,
    /// Requests (sign-up, `/update-user`) may set it. Default true; false: only the Rust API.
    #[serde(default = "yes")]
    pub input: bool,
}

fn yes() -> bool {
    true
}

/// `[user]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserOptions {
    /// The additional fields, by name (as they appear in user objects and bodies).
    pub additional_fields: BTreeMap<String, FieldSpec>,
}

/// The names of the user object's own members and of the bodies that carry fields: no
/// additional field may take one.
const RESERVED: &[&str] = &[
    "id",
    "email",
    "name",
    "image",
    "emailVerified",
    "createdAt",
    "updatedAt",
    "banned",
    "banExpires",
    "banReason",
    "role",
    "twoFactorEnabled",
    "username",
    "displayUsername",
    "isAnonymous",
    "phoneNumber",
    "phoneNumberVerified",
    "password",
    "callbackURL",
    "rememberMe",
    "token",
    "user",
    "session",
    "metadata",
];

/// Longest text in a string field, and most items in an array field.
const MAX_TEXT: usize = 4096;
const MAX_ITEMS: usize = 256;

impl UserOptions {
    pub(crate) fn problems(&self) -> Option<String> {
        for (name, spec) in &self.additional_fields {
            let mut chars = name.chars();
            let ident = chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && name.len() <= 64;
            if !ident || RESERVED.contains(&name.as_str()) {
                return Some(format!("user.additional_fields.{name}: not a name a field may take (letters, digits and _, not a built-in member)"));
            }
            if let Some(d) = &spec.default
                && let Err(e) = check_value(name, spec, d)
            {
                return Some(format!("user.additional_fields.{name}.default: {}", e.message));
            }
        }
        None
    }

    /// The fields a new user gets when nothing was given: the defaults.
    pub fn defaults(&self) -> Map<String, Value> {
        self.additional_fields.iter().filter_map(|(k, s)| s.default.clone().map(|d| (k.clone(), d))).collect()
    }

    /// The fields of a new user from a request's `input`: each declared, settable and of
    /// its type; the defaults for the others; every required one present.
    pub fn for_sign_up(&self, input: &Map<String, Value>) -> Result<Map<String, Value>> {
        self.check_input(input)?;
        let mut out = self.defaults();
        out.extend(input.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())));
        self.check_required(&out)?;
        Ok(out)
    }

    /// `current` changed by a request's `input` (`null` removes a field).
    pub fn for_update(&self, current: &Map<String, Value>, input: &Map<String, Value>) -> Result<Map<String, Value>> {
        self.check_input(input)?;
        Ok(self.merged(current, input))
    }

    /// `current` changed by `changes` from the Rust API: any declared field, settable or
    /// not, each of its type.
    pub fn for_server_update(&self, current: &Map<String, Value>, changes: &Map<String, Value>) -> Result<Map<String, Value>> {
        for (k, v) in changes {
            let spec = self.spec(k)?;
            if !v.is_null() {
                check_value(k, spec, v)?;
            }
        }
        Ok(self.merged(current, changes))
    }

    fn merged(&self, current: &Map<String, Value>, changes: &Map<String, Value>) -> Map<String, Value> {
        // Fields no longer declared are dropped at the next write.
        let mut out: Map<String, Value> =
            current.iter().filter(|(k, _)| self.additional_fields.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in changes {
            if v.is_null() {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    /// A required field cannot be removed.
    pub(crate) fn check_required(&self, fields: &Map<String, Value>) -> Result<()> {
        for (name, spec) in &self.additional_fields {
            if spec.required && fields.get(name).is_none_or(Value::is_null) {
                return Err(Error::bad_request(Code::ValidationError, format!("{name} is required")));
            }
        }
        Ok(())
    }

    fn spec(&self, name: &str) -> Result<&FieldSpec> {
        self.additional_fields.get(name).ok_or_else(|| Error::bad_request(Code::ValidationError, format!("unknown field `{name}`")))
    }

    fn check_input(&self, input: &Map<String, Value>) -> Result<()> {
        for (k, v) in input {
            let spec = self.spec(k)?;
            if !spec.input {
                return Err(Error::bad_request(Code::FieldNotAllowed, format!("{k} cannot be set by a request")));
            }
            if !v.is_null() {
                check_value(k, spec, v)?;
            }
        }
        Ok(())
    }
}

fn check_value(name: &str, spec: &FieldSpec, v: &Value) -> Result<()> {
    let text_ok = |s: &str| s.chars().count() <= MAX_TEXT && !s.contains('\0');
    let ok = match (spec.kind, v) {
        (FieldType::String, Value::String(s)) => text_ok(s),
        (FieldType::Number, Value::Number(_)) => true,
        (FieldType::Boolean, Value::Bool(_)) => true,
        (FieldType::Date, Value::String(s)) => is_date(s),
        (FieldType::Strings, Value::Array(a)) => a.len() <= MAX_ITEMS && a.iter().all(|x| x.as_str().is_some_and(text_ok)),
        (FieldType::Numbers, Value::Array(a)) => a.len() <= MAX_ITEMS && a.iter().all(Value::is_number),
        _ => false,
    };
    if ok { Ok(()) } else { Err(Error::bad_request(Code::ValidationError, format!("{name} must be a {}", type_name(spec.kind)))) }
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::String => "string (at most 4096 characters)",
        FieldType::Number => "number",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date (RFC 3339, or YYYY-MM-DD)",
        FieldType::Strings => "list of strings",
        FieldType::Numbers => "list of numbers",
    }
}

fn is_date(s: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &Rfc3339).is_ok() || time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).is_ok()
}

/// A user's stored fields (the column's JSON object; anything else reads as none).
pub(crate) fn parse(stored: Option<&str>) -> Map<String, Value> {
    match stored.and_then(|s| serde_json::from_str::<Value>(s).ok()) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The column's value for `fields` (none when empty).
pub(crate) fn to_column(fields: &Map<String, Value>) -> Option<String> {
    (!fields.is_empty()).then(|| Value::Object(fields.clone()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts() -> UserOptions {
        let mut o = UserOptions::default();
        o.additional_fields.insert("birthdate".into(), FieldSpec { kind: FieldType::Date, required: true, default: None, input: true });
        o.additional_fields.insert("plan".into(), FieldSpec { kind: FieldType::String, required: false, default: Some(json!("free")), input: false });
        o.additional_fields.insert("tags".into(), FieldSpec { kind: FieldType::Strings, required: false, default: None, input: true });
        o
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sign_up_fills_defaults_checks_types_and_refuses_what_requests_cannot_set() {
        let o = opts();
        assert_eq!(o.for_sign_up(&map(json!({ "birthdate": "2001-02-03" }))).unwrap(), map(json!({ "birthdate": "2001-02-03", "plan": "free" })));
        let code = |v: Value| o.for_sign_up(&map(v)).unwrap_err().code;
        assert_eq!(code(json!({})), "VALIDATION_ERROR", "required");
        assert_eq!(code(json!({ "birthdate": "yesterday" })), "VALIDATION_ERROR");
        assert_eq!(code(json!({ "birthdate": "2001-02-03", "tags": ["a", 1] })), "VALIDATION_ERROR");
        assert_eq!(code(json!({ "birthdate": "2001-02-03", "plan": "pro" })), "FIELD_NOT_ALLOWED");
        assert_eq!(code(json!({ "birthdate": "2001-02-03", "nickname": "x" })), "VALIDATION_ERROR", "undeclared");
    }

    #[test]
    fn updates_merge_remove_with_null_and_drop_undeclared_values() {
        let o = opts();
        let current = map(json!({ "birthdate": "2001-02-03", "plan": "free", "gone": 1 }));
        let out = o.for_update(&current, &map(json!({ "tags": ["x"] }))).unwrap();
        assert_eq!(out, map(json!({ "birthdate": "2001-02-03", "plan": "free", "tags": ["x"] })));
        let out = o.for_update(&out, &map(json!({ "tags": null }))).unwrap();
        assert!(!out.contains_key("tags"));
        assert!(o.check_required(&o.for_update(&out, &map(json!({ "birthdate": null }))).unwrap()).is_err());
        // The server may set what requests cannot.
        assert_eq!(o.for_server_update(&out, &map(json!({ "plan": "pro" }))).unwrap()["plan"], "pro");
        assert!(o.for_server_update(&out, &map(json!({ "plan": 3 }))).is_err());
    }

    #[test]
    fn declarations_are_checked() {
        let mut o = UserOptions::default();
        o.additional_fields.insert("email".into(), FieldSpec { kind: FieldType::String, required: false, default: None, input: true });
        assert!(o.problems().is_some(), "a built-in member");
        let mut o = UserOptions::default();
        o.additional_fields.insert("age".into(), FieldSpec { kind: FieldType::Number, required: false, default: Some(json!("ten")), input: true });
        assert!(o.problems().is_some(), "a default of another type");
        assert!(opts().problems().is_none());
    }
}
