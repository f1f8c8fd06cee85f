//! Roles as sets of permission statements, the grammar the organization and admin
//! capabilities share (better-auth's access control): a statement names a resource and
//! the actions allowed on it, `{ "project": ["create", "update"] }`. A role is a set of
//! statements; a member with several roles holds their union. A request for permissions
//! is allowed when every action it names on every resource it names is held. There are
//! no wildcards: what is not written is not allowed.
//!
//! Names (resources, actions, roles) are 1 to 64 characters of `a-z A-Z 0-9 _ - . :`.

use crate::error::{Code, Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many resources in one set of statements, and actions per resource.
pub const MAX_ENTRIES: usize = 64;

/// A set of permission statements: resource → actions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Permissions(BTreeMap<String, BTreeSet<String>>);

/// Is `s` a valid resource, action or role name?
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::bad_request(Code::InvalidPermission, msg.into())
}

impl Permissions {
    /// From a static list (the built-in roles).
    pub fn of(statements: &[(&str, &[&str])]) -> Permissions {
        Permissions(statements.iter().map(|(r, a)| ((*r).to_owned(), a.iter().map(|s| (*s).to_owned()).collect())).collect())
    }

    /// Parse `{ "resource": ["action", ...], ... }`, checking the grammar.
    pub fn parse(v: &serde_json::Value) -> Result<Permissions> {
        let obj = v.as_object().ok_or_else(|| invalid("Permissions must be an object of resource: [actions]"))?;
        if obj.len() > MAX_ENTRIES {
            return Err(invalid(format!("At most {MAX_ENTRIES} resources")));
        }
        let mut out = BTreeMap::new();
        for (resource, actions) in obj {
            if !valid_name(resource) {
                return Err(invalid(format!("{resource:?} is not a resource name (1-64 of a-z A-Z 0-9 _ - . :)")));
            }
            let list = actions.as_array().ok_or_else(|| invalid(format!("{resource}: the actions must be a list of strings")))?;
            if list.len() > MAX_ENTRIES {
                return Err(invalid(format!("{resource}: at most {MAX_ENTRIES} actions")));
            }
            let mut set = BTreeSet::new();
            for a in list {
                match a.as_str() {
                    Some(a) if valid_name(a) => {
                        set.insert(a.to_owned());
                    }
                    _ => return Err(invalid(format!("{resource}: {a} is not an action name (1-64 of a-z A-Z 0-9 _ - . :)"))),
                }
            }
            out.insert(resource.clone(), set);
        }
        Ok(Permissions(out))
    }

    /// Parse from stored JSON text.
    pub fn from_json(text: &str) -> Result<Permissions> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::internal(format!("stored permissions are not JSON: {e}")))?;
        Permissions::parse(&v)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }

    /// Add every statement of `other`.
    pub fn extend(&mut self, other: &Permissions) {
        for (r, a) in &other.0 {
            self.0.entry(r.clone()).or_default().extend(a.iter().cloned());
        }
    }

    /// Does this set hold every action `wanted` names? An empty request is never allowed
    /// (asking for nothing is a mistake, not a permission).
    pub fn allows(&self, wanted: &Permissions) -> bool {
        let mut any = false;
        for (r, actions) in &wanted.0 {
            let Some(held) = self.0.get(r) else { return false };
            for a in actions {
                any = true;
                if !held.contains(a) {
                    return false;
                }
            }
        }
        any
    }

    /// May `action` be done on `resource`?
    pub fn can(&self, resource: &str, action: &str) -> bool {
        self.0.get(resource).is_some_and(|a| a.contains(action))
    }

    /// Is every statement of this set held by `other` (granting this set gives nothing
    /// `other` lacks)?
    pub fn within(&self, other: &Permissions) -> bool {
        self.0.iter().all(|(r, actions)| actions.is_empty() || other.0.get(r).is_some_and(|held| actions.is_subset(held)))
    }

    /// The resources named.
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn as_map(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Permissions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Permissions, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Permissions::parse(&v).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// The role names of a stored role field: one name, or several separated by commas.
pub fn role_names(stored: &str) -> impl Iterator<Item = &str> {
    stored.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Check and normalise a role field given by a client: names separated by commas (or a
/// list), each valid, no duplicates; at least one.
pub fn normalize_roles(roles: &[String]) -> Result<String> {
    let mut out: Vec<&str> = Vec::new();
    for r in roles.iter().flat_map(|r| role_names(r)) {
        if !valid_name(r) {
            return Err(Error::bad_request(Code::RoleNotFound, format!("{r:?} is not a role name")));
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.is_empty() {
        return Err(Error::bad_request(Code::RoleNotFound, "A role is required"));
    }
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_is_allowed_only_when_every_action_is_held() {
        let held = Permissions::of(&[("project", &["create", "update"]), ("member", &["delete"])]);
        let ask = |v| Permissions::parse(&v).unwrap();
        assert!(held.allows(&ask(json!({"project": ["create"]}))));
        assert!(held.allows(&ask(json!({"project": ["create", "update"], "member": ["delete"]}))));
        assert!(!held.allows(&ask(json!({"project": ["create", "delete"]}))));
        assert!(!held.allows(&ask(json!({"billing": ["read"]}))));
        assert!(!held.allows(&ask(json!({}))), "asking for nothing is refused");
        assert!(!held.allows(&ask(json!({"project": []}))));
    }

    #[test]
    fn within_is_the_subset_rule() {
        let admin = Permissions::of(&[("member", &["create", "update"]), ("team", &["create"])]);
        assert!(Permissions::of(&[("member", &["update"])]).within(&admin));
        assert!(Permissions::of(&[("member", &[])]).within(&admin));
        assert!(!Permissions::of(&[("member", &["delete"])]).within(&admin));
        assert!(!Permissions::of(&[("organization", &["delete"])]).within(&admin));
    }

    #[test]
    fn the_grammar_refuses_what_is_not_names() {
        for bad in [json!([]), json!({"a": "b"}), json!({"a b": ["x"]}), json!({"a": ["x y"]}), json!({"a": [1]}), json!({"": ["x"]}), json!({"a": ["*"]})] {
            assert_eq!(Permissions::parse(&bad).unwrap_err().code, "INVALID_RESOURCE", "{bad}");
        }
        assert_eq!(normalize_roles(&["admin, member".into(), "admin".into()]).unwrap(), "admin,member");
        assert!(normalize_roles(&[" , ".into()]).is_err());
        assert!(normalize_roles(&["bad role".into()]).is_err());
    }
}
