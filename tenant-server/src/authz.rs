//! Role-based tool access. Tiers map role-claim values to tool patterns (and may require MFA);
//! service accounts get the tools their entry lists. With no tiers configured, every signed-in
//! user of an allowed tenant may call every enabled tool.

use std::borrow::Cow;

use mcp_tenancy_config::{
    AccessConfig,
    catalog::{ADMIN_PREFIX, pattern_matches, tier_pattern_reaches},
};

use crate::caller::Caller;

/// What the caller may do with one tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// A tier of the caller lists the tool but requires MFA, which the token lacks: the client
    /// can fix this by signing in again (HTTP 403 `insufficient_scope`).
    MfaRequired,
    /// Neither listed nor callable; answered exactly as an unknown tool.
    Denied,
}

/// The one authorization decision of a call: the verdict, and the grant it came from as the
/// `tier` metric label (the tier that allows the tool, or that would with MFA; `sa:<name>` for
/// a service account; `default` when no tiers are configured; else `none`). Bounded by config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<'a> {
    pub verdict: Verdict,
    pub tier: Cow<'a, str>,
}

impl Decision<'_> {
    /// The decision without borrows, to carry along with a request.
    pub fn into_owned(self) -> Decision<'static> {
        Decision {
            verdict: self.verdict,
            tier: Cow::Owned(self.tier.into_owned()),
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allowed
    }
}

/// Names of the tiers whose roles the caller holds.
pub fn tiers_of(caller: &Caller, access: &AccessConfig) -> Vec<String> {
    if caller.service_account.is_some() {
        return Vec::new();
    }
    access
        .tiers
        .iter()
        .filter(|tier| {
            tier.roles
                .iter()
                .any(|r| r == "*" || caller.roles.iter().any(|cr| cr == r))
        })
        .map(|tier| tier.name.clone())
        .collect()
}

/// Decides whether `caller` may call `tool`, walking the service account or the caller's tiers
/// once. The admin tools are stricter: only a tier that requires MFA and names them with an
/// `admin_` pattern reaches them; no service account and no default (tierless) access does.
pub fn decide<'a>(caller: &'a Caller, access: &'a AccessConfig, tool: &str) -> Decision<'a> {
    let admin = tool.starts_with(ADMIN_PREFIX);
    if let Some(name) = &caller.service_account {
        let listed = !admin
            && access
                .service_accounts
                .iter()
                .find(|sa| &sa.name == name)
                .is_some_and(|sa| sa.tools.iter().any(|p| pattern_matches(p, tool)));
        return Decision {
            verdict: if listed { Verdict::Allowed } else { Verdict::Denied },
            tier: Cow::Owned(format!("sa:{name}")),
        };
    }
    if access.tiers.is_empty() {
        return Decision {
            verdict: if admin { Verdict::Denied } else { Verdict::Allowed },
            tier: Cow::Borrowed(if admin { "none" } else { "default" }),
        };
    }
    let mut mfa_tier = None;
    let tiers = access
        .tiers
        .iter()
        .filter(|t| caller.tiers.contains(&t.name) && (t.require_mfa || !admin));
    for tier in tiers {
        if tier.tools.iter().any(|p| tier_pattern_reaches(p, tool)) {
            if !tier.require_mfa || caller.mfa {
                return Decision {
                    verdict: Verdict::Allowed,
                    tier: Cow::Borrowed(&tier.name),
                };
            }
            mfa_tier.get_or_insert(tier.name.as_str());
        }
    }
    match mfa_tier {
        Some(tier) => Decision {
            verdict: Verdict::MfaRequired,
            tier: Cow::Borrowed(tier),
        },
        None => Decision {
            verdict: Verdict::Denied,
            tier: Cow::Borrowed("none"),
        },
    }
}

#[cfg(test)]
mod tests {
    use mcp_tenancy_config::{AccessTier, ServiceAccountConfig};

    use super::*;

    fn tier(name: &str, roles: &[&str], tools: &[&str], mfa: bool) -> AccessTier {
        AccessTier {
            name: name.into(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            tools: tools.iter().map(|s| s.to_string()).collect(),
            require_mfa: mfa,
        }
    }

    fn caller(roles: &[&str], mfa: bool, access: &AccessConfig) -> Caller {
        let mut c = crate::testing::caller("u");
        c.roles = roles.iter().map(|s| s.to_string()).collect();
        c.mfa = mfa;
        c.tiers = tiers_of(&c, access);
        c
    }

    fn access() -> AccessConfig {
        AccessConfig {
            tiers: vec![
                tier("everyone", &["*"], &["whoami"], false),
                tier(
                    "readers",
                    &["Mail.Reader"],
                    &["mail_list_messages", "server_info"],
                    false,
                ),
                tier("senders", &["Mail.Sender"], &["mail_*"], true),
            ],
            service_accounts: vec![ServiceAccountConfig {
                name: "robot".into(),
                client_id: Some("c1".into()),
                client_secret_file: None,
                tools: vec!["server_info".into()],
            }],
        }
    }

    #[test]
    fn tiers_grant_the_union_of_their_tools() {
        let a = access();
        let reader = caller(&["Mail.Reader"], false, &a);
        assert_eq!(reader.tiers, vec!["everyone", "readers"]);
        assert_eq!(decide(&reader, &a, "whoami").verdict, Verdict::Allowed);
        assert_eq!(decide(&reader, &a, "server_info").verdict, Verdict::Allowed);
        assert_eq!(decide(&reader, &a, "mail_send").verdict, Verdict::Denied);
        assert_eq!(decide(&reader, &a, "server_info").tier, "readers");
    }

    #[test]
    fn mfa_tiers_need_mfa() {
        let a = access();
        assert_eq!(
            decide(&caller(&["Mail.Sender"], false, &a), &a, "mail_send").verdict,
            Verdict::MfaRequired
        );
        assert_eq!(
            decide(&caller(&["Mail.Sender"], true, &a), &a, "mail_send").verdict,
            Verdict::Allowed
        );
    }

    #[test]
    fn service_accounts_get_only_their_tools() {
        let a = access();
        let mut robot = crate::testing::caller("c1");
        robot.service_account = Some("robot".into());
        robot.roles = vec!["Mail.Sender".into()];
        robot.tiers = tiers_of(&robot, &a);
        assert!(robot.tiers.is_empty());
        assert_eq!(decide(&robot, &a, "server_info").verdict, Verdict::Allowed);
        assert_eq!(decide(&robot, &a, "whoami").verdict, Verdict::Denied);
        assert_eq!(decide(&robot, &a, "server_info").tier, "sa:robot");
    }

    #[test]
    fn no_tiers_means_every_tool() {
        let a = AccessConfig::default();
        assert_eq!(
            decide(&caller(&[], false, &a), &a, "mail_send").verdict,
            Verdict::Allowed
        );
    }

    #[test]
    fn the_decision_names_the_tier_that_grants_and_the_one_that_wants_mfa() {
        let mut a = access();
        // An MFA tier listed before a plain one that also offers the tool: without MFA the plain
        // tier grants it, and the label says so (it once named the first matching tier).
        a.tiers
            .insert(1, tier("strict", &["Mail.Reader"], &["server_info"], true));
        let reader = caller(&["Mail.Reader"], false, &a);
        let decision = decide(&reader, &a, "server_info");
        assert_eq!(
            (decision.verdict, decision.tier.as_ref()),
            (Verdict::Allowed, "readers")
        );
        let sender = caller(&["Mail.Sender"], false, &a);
        let decision = decide(&sender, &a, "mail_send");
        assert_eq!(
            (decision.verdict, decision.tier.as_ref()),
            (Verdict::MfaRequired, "senders")
        );
        let decision = decide(&reader, &a, "teams_list_teams");
        assert_eq!(
            (decision.verdict, decision.tier.as_ref()),
            (Verdict::Denied, "none")
        );
    }

    #[test]
    fn admin_tools_need_an_mfa_tier_that_names_them() {
        let mut a = access();
        a.tiers.push(tier("everything", &["Owner"], &["*"], true));
        a.tiers.push(tier("helpdesk", &["Helpdesk"], &["admin_*"], true));
        let tool = "admin_revoke_grants";
        // `*`, even in an MFA tier, does not reach the admin tools.
        assert_eq!(
            decide(&caller(&["Owner"], true, &a), &a, tool).verdict,
            Verdict::Denied
        );
        assert_eq!(
            decide(&caller(&["Helpdesk"], false, &a), &a, tool),
            Decision {
                verdict: Verdict::MfaRequired,
                tier: Cow::Borrowed("helpdesk")
            }
        );
        assert_eq!(
            decide(&caller(&["Helpdesk"], true, &a), &a, tool).verdict,
            Verdict::Allowed
        );
        // A tier without MFA naming them (the config refuses it) is ignored all the same.
        a.tiers.push(tier("lax", &["Lax"], &["admin_*"], false));
        assert_eq!(
            decide(&caller(&["Lax"], true, &a), &a, tool).verdict,
            Verdict::Denied
        );
        // Neither tierless access nor a service account reaches them.
        let open = AccessConfig::default();
        assert_eq!(
            decide(&caller(&[], true, &open), &open, tool).verdict,
            Verdict::Denied
        );
        a.service_accounts[0].tools = vec!["admin_*".into()];
        let mut robot = crate::testing::caller("c1");
        robot.service_account = Some("robot".into());
        assert_eq!(decide(&robot, &a, tool).verdict, Verdict::Denied);
    }
}
