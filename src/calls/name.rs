//! [`ObjectName`]: which Durable Object a call goes to, built in one place.
//!
//! Per-user isolation rests on these names: a tab's object is named `"{user}/{tab}"`, so another
//! user's tab id reaches a different object (one that was never created, which answers 404).
//! That only holds if no part can contain the separator, so every constructor validates its
//! parts with the same rule as the API's ids (1–64 of `[A-Za-z0-9_-]`). The strings are the ones
//! the service has always used, so existing objects keep their names.

use super::CallError;

/// The Durable Object namespaces (bindings in `wrangler.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `TabObject`: one chat tab's messages.
    Tab,
    /// `UserObject`: a user's tab directory and history index.
    User,
    /// `RunObject`: one rollout run.
    Run,
    /// `CacheShard`: one shard of the web-search cache policy.
    Shard,
    /// `WorkspaceObject`: one code workspace (file table, symbols, code index).
    Workspace,
}

impl ObjectKind {
    /// The binding name in `wrangler.toml`.
    pub fn binding(self) -> &'static str {
        match self {
            ObjectKind::Tab => "TAB",
            ObjectKind::User => "USER",
            ObjectKind::Run => "RUN",
            ObjectKind::Shard => "CACHE",
            ObjectKind::Workspace => "WORKSPACE",
        }
    }
}

/// A validated object name: the binding plus the instance name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectName {
    kind: ObjectKind,
    name: String,
}

/// The rule every name part follows (the same as tab, run and user ids in the API).
fn valid_part(part: &str) -> bool {
    (1..=64).contains(&part.len())
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check(part: &str) -> Result<&str, CallError> {
    if valid_part(part) {
        Ok(part)
    } else {
        Err(CallError::InvalidName(part.chars().take(80).collect()))
    }
}

impl ObjectName {
    /// The object of `user`'s tab `tab`.
    pub fn tab(user: &str, tab: &str) -> Result<Self, CallError> {
        Ok(Self {
            kind: ObjectKind::Tab,
            name: format!("{}/{}", check(user)?, check(tab)?),
        })
    }

    /// The object of `user` (directory and history index).
    pub fn user(user: &str) -> Result<Self, CallError> {
        Ok(Self {
            kind: ObjectKind::User,
            name: check(user)?.to_owned(),
        })
    }

    /// The object of `user`'s rollout run `run`.
    pub fn run(user: &str, run: &str) -> Result<Self, CallError> {
        Ok(Self {
            kind: ObjectKind::Run,
            name: format!("{}/{}", check(user)?, check(run)?),
        })
    }

    /// The object of `user`'s code workspace `workspace`.
    pub fn workspace(user: &str, workspace: &str) -> Result<Self, CallError> {
        Ok(Self {
            kind: ObjectKind::Workspace,
            name: format!("{}/{}", check(user)?, check(workspace)?),
        })
    }

    /// Web-cache policy shard number `index`.
    pub fn shard(index: u32) -> Self {
        Self {
            kind: ObjectKind::Shard,
            name: format!("shard-{index}"),
        }
    }

    /// Which namespace the object lives in.
    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    /// The instance name within the namespace (`idFromName`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_ones_existing_objects_have() {
        let tab = ObjectName::tab("alice", "t1").expect("valid");
        assert_eq!((tab.kind().binding(), tab.name()), ("TAB", "alice/t1"));
        let user = ObjectName::user("alice").expect("valid");
        assert_eq!((user.kind().binding(), user.name()), ("USER", "alice"));
        let run = ObjectName::run("alice", "r1").expect("valid");
        assert_eq!((run.kind().binding(), run.name()), ("RUN", "alice/r1"));
        let ws = ObjectName::workspace("alice", "w1").expect("valid");
        assert_eq!((ws.kind().binding(), ws.name()), ("WORKSPACE", "alice/w1"));
        assert!(ObjectName::workspace("alice", "w/1").is_err());
        let shard = ObjectName::shard(3);
        assert_eq!((shard.kind().binding(), shard.name()), ("CACHE", "shard-3"));
    }

    #[test]
    fn no_part_can_reach_another_users_object() {
        // Without validation, user "a" with tab "b/c" and user "a/b" with tab "c" would collide.
        assert!(ObjectName::tab("a", "b/c").is_err());
        assert!(ObjectName::tab("a/b", "c").is_err());
        assert!(ObjectName::run("a", "../x").is_err());
        assert!(ObjectName::user("").is_err());
        assert!(ObjectName::user(&"x".repeat(65)).is_err());
        assert!(ObjectName::tab("alice", "tab with space").is_err());
    }

    #[test]
    fn distinct_valid_parts_give_distinct_names() {
        let parts = ["a", "b", "a-b", "a_b", "ab", "A"];
        let mut seen = std::collections::HashSet::new();
        for user in parts {
            for tab in parts {
                let name = ObjectName::tab(user, tab).expect("valid");
                assert!(seen.insert(name.name().to_owned()), "{user}/{tab} collided");
            }
        }
    }
}
