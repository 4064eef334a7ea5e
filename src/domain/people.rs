use super::ValidationError;
use std::fmt;

/// An email address, lower-cased. Deliberately simple: `local@domain.tld`, no spaces, ≤ 254.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Email, ValidationError> {
        let s = s.trim();
        let err = || ValidationError::new("email", "enter an email address like name@example.com");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(err)?;
        if local.is_empty()
            || local.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(err());
        }
        Ok(Email(s.to_lowercase()))
    }
    /// An address as stored: it was parsed when it was saved.
    pub fn stored(s: String) -> Email {
        Email(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password: 10–1024 bytes. The upper bound keeps hashing cost bounded.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN: usize = 10;
    pub const MAX: usize = 1024;
    pub fn parse(s: &str) -> Result<Password, ValidationError> {
        if s.chars().count() < Self::MIN {
            return Err(ValidationError::new(
                "password",
                format!("use at least {} characters", Self::MIN),
            ));
        }
        if s.len() > Self::MAX {
            return Err(ValidationError::new(
                "password",
                format!("use at most {} bytes", Self::MAX),
            ));
        }
        Ok(Password(s.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A member's role in a workspace (seed 003: only admins and owners change webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, ValidationError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(ValidationError::new(
                "role",
                "choose owner, admin or viewer",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
    /// Admins and owners may change webhooks, keys and members; viewers only read.
    pub fn can_manage(self) -> bool {
        self >= Role::Admin
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Manage webhooks and read deliveries.
    Webhooks,
    /// Publish events.
    Events,
    /// Make one-time portal links into a workspace's settings.
    Portal,
    /// Provision workspaces and their API keys (instance keys only).
    Workspaces,
}

impl Scope {
    /// Every scope, in the order they are listed and stored.
    pub const ALL: [Scope; 4] = [
        Scope::Webhooks,
        Scope::Events,
        Scope::Portal,
        Scope::Workspaces,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Webhooks => "webhooks",
            Scope::Events => "events",
            Scope::Portal => "portal",
            Scope::Workspaces => "workspaces",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Scopes that only make sense on an instance key.
    pub fn instance_only(self) -> bool {
        self == Scope::Workspaces
    }
}

/// A non-empty set of scopes, stored as `webhooks,events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes {
    pub webhooks: bool,
    pub events: bool,
    pub portal: bool,
    pub workspaces: bool,
}

impl Scopes {
    /// Parses `webhooks,events` (commas, spaces around names allowed), naming every unknown
    /// scope at once.
    pub fn parse(s: &str) -> Result<Scopes, ValidationError> {
        Scopes::from_names(s.split(',').map(str::trim).filter(|p| !p.is_empty()))
    }

    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Scopes, ValidationError> {
        let mut out = Scopes::default();
        let mut unknown = Vec::new();
        for part in names {
            match Scope::parse(part) {
                Some(scope) => out.set(scope),
                None => unknown.push(format!("{part:?}")),
            }
        }
        let known = Scope::ALL.map(Scope::as_str).join(", ");
        if !unknown.is_empty() {
            return Err(ValidationError::new(
                "scopes",
                format!("unknown scope {}; use any of {known}", unknown.join(", ")),
            ));
        }
        if out == Scopes::default() {
            return Err(ValidationError::new(
                "scopes",
                format!("choose at least one scope: {known}"),
            ));
        }
        Ok(out)
    }

    fn set(&mut self, scope: Scope) {
        match scope {
            Scope::Webhooks => self.webhooks = true,
            Scope::Events => self.events = true,
            Scope::Portal => self.portal = true,
            Scope::Workspaces => self.workspaces = true,
        }
    }

    pub fn has(self, scope: Scope) -> bool {
        match scope {
            Scope::Webhooks => self.webhooks,
            Scope::Events => self.events,
            Scope::Portal => self.portal,
            Scope::Workspaces => self.workspaces,
        }
    }

    pub fn list(self) -> Vec<&'static str> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.has(*s))
            .map(Scope::as_str)
            .collect()
    }

    /// For a key of one workspace: refuses the scopes only instance keys may hold.
    pub fn for_workspace_key(self) -> Result<Scopes, ValidationError> {
        match Scope::ALL.into_iter().find(|s| s.instance_only() && self.has(*s)) {
            Some(s) => Err(ValidationError::new(
                "scopes",
                format!(
                    "the {} scope is for instance keys (hookline api-key create --instance); a workspace key may have webhooks, events and portal",
                    s.as_str()
                ),
            )),
            None => Ok(self),
        }
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.list().join(","))
    }
}

/// How long an invitation link works.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a password reset link works.
pub const RESET_TTL_MS: i64 = 3600 * 1000;

/// Why a change of a member's role (or their removal) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRefusal {
    /// Only an owner may make someone owner or change an owner.
    OwnerOnly,
    /// The workspace would be left without an owner.
    LastOwner,
}

/// The rules of a role change: `target` is the member's role now, `new` the role asked for
/// (`None`: removal), `owners` how many owners the workspace has, and `actor_is_owner`
/// whether the one asking is an owner (or an instance admin).
pub fn check_member_change(
    target: Role,
    new: Option<Role>,
    owners: usize,
    actor_is_owner: bool,
) -> Result<(), MemberRefusal> {
    let touches_owner = target == Role::Owner || new == Some(Role::Owner);
    if touches_owner && !actor_is_owner {
        return Err(MemberRefusal::OwnerOnly);
    }
    if target == Role::Owner && new != Some(Role::Owner) && owners <= 1 {
        return Err(MemberRefusal::LastOwner);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_changes_keep_an_owner_and_leave_owners_to_owners() {
        use MemberRefusal::*;
        use Role::*;
        // Admins change viewers and admins; owners anyone.
        assert_eq!(check_member_change(Viewer, Some(Admin), 1, false), Ok(()));
        assert_eq!(check_member_change(Admin, None, 1, false), Ok(()));
        assert_eq!(check_member_change(Viewer, Some(Owner), 1, true), Ok(()));
        // Making or changing an owner takes an owner.
        assert_eq!(
            check_member_change(Viewer, Some(Owner), 2, false),
            Err(OwnerOnly)
        );
        assert_eq!(
            check_member_change(Owner, Some(Admin), 2, false),
            Err(OwnerOnly)
        );
        assert_eq!(check_member_change(Owner, None, 2, false), Err(OwnerOnly));
        // The last owner stays one, whoever asks.
        assert_eq!(
            check_member_change(Owner, Some(Admin), 1, true),
            Err(LastOwner)
        );
        assert_eq!(check_member_change(Owner, None, 1, true), Err(LastOwner));
        assert_eq!(check_member_change(Owner, Some(Owner), 1, true), Ok(()));
        assert_eq!(check_member_change(Owner, None, 2, true), Ok(()));
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_bounded_and_hidden() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        let p = Password::parse("correct horse battery").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }

    #[test]
    fn roles_and_scopes() {
        assert!(Role::Owner.can_manage() && Role::Admin.can_manage() && !Role::Viewer.can_manage());
        assert!(Role::parse("boss").is_err());
        let s = Scopes::parse("webhooks, events").unwrap();
        assert!(s.has(Scope::Webhooks) && s.has(Scope::Events));
        assert_eq!(s.to_string(), "webhooks,events");
        assert!(Scopes::parse("").is_err());
        assert!(Scopes::parse("admin").is_err());
        let e = Scopes::parse("admin, webhooks, root").unwrap_err();
        assert!(
            e.message.contains("\"admin\"") && e.message.contains("\"root\""),
            "{}",
            e.message
        );
        let all = Scopes::parse("workspaces,portal,events,webhooks").unwrap();
        assert_eq!(all.to_string(), "webhooks,events,portal,workspaces");
        assert_eq!(Scopes::parse(&all.to_string()).unwrap(), all);
        assert!(all.for_workspace_key().is_err());
        assert!(Scopes::parse("portal,webhooks")
            .unwrap()
            .for_workspace_key()
            .is_ok());
    }
}
