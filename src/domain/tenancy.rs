//! What a vendor's backend sends to provision its customers: a workspace (slug, name, plan)
//! and a portal link into it. Parsed once, with every problem reported at once.

use super::{Email, Role, Slug, ValidationError, ValidationErrors};

/// Most webhooks a plan may allow.
pub const MAX_WEBHOOKS_CAP: i64 = 100_000;

/// A workspace's display name: at most 100 characters, no control characters.
pub fn workspace_name(s: &str) -> Result<String, ValidationError> {
    let s = s.trim();
    if s.chars().count() > 100 {
        return Err(ValidationError::new("name", "use at most 100 characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "use letters, digits, spaces and punctuation; no control characters such as newlines",
        ));
    }
    Ok(s.to_string())
}

/// A plan's cap on webhooks: 0 to [`MAX_WEBHOOKS_CAP`], or `None` for no cap.
pub fn max_webhooks(n: Option<i64>) -> Result<Option<i64>, ValidationError> {
    match n {
        None => Ok(None),
        Some(n) if (0..=MAX_WEBHOOKS_CAP).contains(&n) => Ok(Some(n)),
        Some(_) => Err(ValidationError::new(
            "max_webhooks",
            format!("use a whole number from 0 to {MAX_WEBHOOKS_CAP}, or null for no cap"),
        )),
    }
}

/// A new workspace.
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub slug: Slug,
    /// The slug when no name is given.
    pub name: String,
    pub webhooks_enabled: bool,
    pub max_webhooks: Option<i64>,
}

impl NewWorkspace {
    pub fn parse(
        slug: Option<&str>,
        name: Option<&str>,
        webhooks_enabled: Option<bool>,
        max: Option<i64>,
    ) -> Result<NewWorkspace, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let slug = match slug {
            None => {
                errors.push(ValidationError::new(
                    "slug",
                    "give the workspace a slug: 1–63 lowercase letters, digits and dashes (e.g. acme-corp)",
                ));
                None
            }
            Some(s) => errors.take(Slug::parse(s)),
        };
        let name = errors.take(workspace_name(name.unwrap_or("")));
        let max_webhooks = errors.take(max_webhooks(max));
        match (slug, name, max_webhooks) {
            (Some(slug), Some(name), Some(max_webhooks)) if errors.is_empty() => Ok(NewWorkspace {
                name: if name.is_empty() {
                    slug.to_string()
                } else {
                    name
                },
                slug,
                webhooks_enabled: webhooks_enabled.unwrap_or(true),
                max_webhooks,
            }),
            _ => Err(errors),
        }
    }
}

/// Shortest and longest life of a portal link, and the default.
pub const PORTAL_TTL_MIN: i64 = 30;
pub const PORTAL_TTL_MAX: i64 = 3600;
pub const PORTAL_TTL_DEFAULT: i64 = 300;

/// A request for a portal link.
#[derive(Debug, Clone)]
pub struct PortalLinkRequest {
    /// Admin or viewer (never owner: the portal has no members to own).
    pub role: Role,
    pub email: Option<Email>,
    pub ttl_seconds: i64,
}

impl PortalLinkRequest {
    pub fn parse(
        role: Option<&str>,
        email: Option<&str>,
        ttl_seconds: Option<i64>,
    ) -> Result<PortalLinkRequest, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let role = match role.map(str::trim) {
            Some("admin") => Some(Role::Admin),
            Some("viewer") => Some(Role::Viewer),
            _ => {
                errors.push(ValidationError::new(
                    "role",
                    "use \"admin\" (may change webhooks) or \"viewer\" (reads only)",
                ));
                None
            }
        };
        let email = match email.map(str::trim) {
            None | Some("") => None,
            Some(e) => errors.take(Email::parse(e)).map(Some).unwrap_or(None),
        };
        let ttl = ttl_seconds.unwrap_or(PORTAL_TTL_DEFAULT);
        if !(PORTAL_TTL_MIN..=PORTAL_TTL_MAX).contains(&ttl) {
            errors.push(ValidationError::new(
                "ttl_seconds",
                format!("use {PORTAL_TTL_MIN} to {PORTAL_TTL_MAX} seconds (default {PORTAL_TTL_DEFAULT})"),
            ));
        }
        match role {
            Some(role) if errors.is_empty() => Ok(PortalLinkRequest {
                role,
                email,
                ttl_seconds: ttl,
            }),
            _ => Err(errors),
        }
    }
}

/// Why a workspace's plan refuses a change of its webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanRefusal {
    /// The plan does not include webhooks: they cannot be added, changed or removed.
    Disabled,
    /// The plan allows at most this many webhooks.
    Limit(i64),
}

/// The plan check: `webhooks_enabled` and `max_webhooks` are the workspace's plan, `count`
/// how many webhooks it has; `creating` a change that adds one.
pub fn plan_refusal(
    webhooks_enabled: bool,
    max_webhooks: Option<i64>,
    count: i64,
    creating: bool,
) -> Option<PlanRefusal> {
    if !webhooks_enabled {
        return Some(PlanRefusal::Disabled);
    }
    match (creating, max_webhooks) {
        (true, Some(max)) if count >= max => Some(PlanRefusal::Limit(max)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_refuses_changes_without_webhooks_and_creations_past_its_cap() {
        assert_eq!(plan_refusal(true, None, 1_000, true), None);
        assert_eq!(plan_refusal(true, Some(3), 2, true), None);
        assert_eq!(
            plan_refusal(true, Some(3), 3, true),
            Some(PlanRefusal::Limit(3))
        );
        assert_eq!(
            plan_refusal(true, Some(0), 0, true),
            Some(PlanRefusal::Limit(0))
        );
        // A change that adds nothing is allowed at (or past) the cap.
        assert_eq!(plan_refusal(true, Some(3), 5, false), None);
        assert_eq!(
            plan_refusal(false, None, 0, false),
            Some(PlanRefusal::Disabled)
        );
        assert_eq!(
            plan_refusal(false, Some(3), 0, true),
            Some(PlanRefusal::Disabled)
        );
    }

    #[test]
    fn workspaces_report_every_problem() {
        let e = NewWorkspace::parse(Some("Bad Slug"), Some("x\ny"), None, Some(-1)).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["slug", "name", "max_webhooks"]);
        assert_eq!(
            NewWorkspace::parse(None, None, None, None)
                .unwrap_err()
                .first()
                .unwrap()
                .field,
            "slug"
        );
        let ok = NewWorkspace::parse(Some("acme"), None, Some(false), Some(3)).unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.webhooks_enabled, ok.max_webhooks),
            ("acme", false, Some(3))
        );
        assert!(NewWorkspace::parse(Some("acme"), Some(&"n".repeat(101)), None, None).is_err());
        assert!(NewWorkspace::parse(Some("acme"), None, None, Some(MAX_WEBHOOKS_CAP + 1)).is_err());
    }

    #[test]
    fn portal_links_take_admin_or_viewer_and_a_bounded_ttl() {
        assert_eq!(
            PortalLinkRequest::parse(Some("admin"), None, None)
                .unwrap()
                .ttl_seconds,
            300
        );
        for role in [None, Some("owner"), Some("Admin"), Some(""), Some("root")] {
            assert!(
                PortalLinkRequest::parse(role, None, None).is_err(),
                "{role:?}"
            );
        }
        for ttl in [29, 3601, 0, -5, i64::MAX] {
            assert!(
                PortalLinkRequest::parse(Some("viewer"), None, Some(ttl)).is_err(),
                "{ttl}"
            );
        }
        let e = PortalLinkRequest::parse(Some("boss"), Some("nope"), Some(1)).unwrap_err();
        assert_eq!(e.len(), 3);
        let r =
            PortalLinkRequest::parse(Some("viewer"), Some(" Ann@Example.com "), Some(30)).unwrap();
        assert_eq!(r.email.unwrap().as_str(), "ann@example.com");
    }
}
