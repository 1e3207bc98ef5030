//! Policy types that appear verbatim both in the `McpTenant` spec and in the tenant config, so the
//! operator copies them across without translation. Their doc comments are what `kubectl explain`
//! shows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    HumanDuration,
    catalog::{TOOL_CATALOG, ToolEntry, ToolGroup, pattern_matches},
    rules,
};

/// Schema pattern of a tool pattern: `*`, a prefix such as `mail_*`, or an exact tool name.
pub const TOOL_PATTERN: &str = "^(\\*|[a-z][a-z0-9_]{0,63}\\*?)$";
/// Schema pattern of a Kubernetes-style name (RFC 1123 label).
pub const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";

/// How users and clients obtain tokens for the tenant server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum IdentityMode {
    /// The server is the OAuth 2.1 authorization server for MCP clients and signs users in with
    /// the upstream identity provider (Entra ID or any OpenID provider).
    #[default]
    Builtin,
    /// Tokens come from an external authorization server (Entra ID, APIM, Keycloak) and are
    /// validated against its JWKS; Graph tokens are obtained on behalf of the user.
    External,
}

/// A group of people, found by role, and the tools they may call. The admin tools (`admin_*`:
/// other users' sign-ins) are reached only by a tier that requires MFA and names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::with_rules(vec![rules::admin_tools_need_mfa()]))]
pub struct AccessTier {
    /// Name of the tier, shown to users by `whoami` and used as a metric label.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL))]
    pub name: String,
    /// Values of the role claim that place a user in this tier. A user in several tiers gets the
    /// union of their tools. `*` matches every signed-in user of an allowed tenant.
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 256)))]
    pub roles: Vec<String>,
    /// Tools the tier may call: exact names, prefixes such as `mail_*`, or `*` for every tool.
    #[schemars(
        length(min = 1, max = 64),
        inner(length(max = 65), regex(pattern = TOOL_PATTERN)),
        transform = rules::with_item_rules(vec![rules::known_tool_pattern()])
    )]
    pub tools: Vec<String>,
    /// Refuse the tier's tools unless the token's `amr` claim contains `mfa`.
    #[serde(default)]
    pub require_mfa: bool,
}

/// Which tool groups the server offers, and whether it may change anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolSets {
    /// Mail: list, search, read, attachments, send, reply, forward, drafts, move, mark, delete,
    /// inbox triage, catch me up. Graph: Mail.Read, People.Read; Mail.ReadWrite and Mail.Send
    /// for the tools that change or send mail.
    #[serde(default = "yes")]
    pub mail: bool,
    /// Calendar: events, calendars, scheduling, answering invitations, meeting briefs. Graph:
    /// Calendars.Read, Calendars.Read.Shared; meeting briefs also Mail.Read, People.Read and
    /// Sites.Read.All; Calendars.ReadWrite for the tools that change events.
    #[serde(default = "yes")]
    pub calendar: bool,
    /// Teams: teams, channels, channel messages and replies, chats, presence, online meetings.
    /// Graph: Team.ReadBasic.All, Channel.ReadBasic.All, ChannelMessage.Read.All, Chat.Read,
    /// Presence.Read.All; ChannelMessage.Send, ChatMessage.Send and OnlineMeetings.ReadWrite for
    /// the tools that post or create.
    #[serde(default = "yes")]
    pub teams: bool,
    /// Contacts, relevant people, colleagues' profiles and direct reports. Graph: Contacts.Read,
    /// People.Read, User.Read.All.
    #[serde(default = "yes")]
    pub contacts: bool,
    /// OneDrive and SharePoint: search, recent and shared files, reading documents as text,
    /// uploading notes. Graph: Files.Read, Files.Read.All; Files.ReadWrite for uploads.
    #[serde(default = "yes")]
    pub files: bool,
    /// Microsoft To Do: task lists, tasks, creating and completing them. Graph: Tasks.Read;
    /// Tasks.ReadWrite for the tools that change tasks.
    #[serde(default = "yes")]
    pub tasks: bool,
    /// Offer no tool that sends, creates or changes anything, and request no Graph permission
    /// that only those tools need.
    #[serde(default)]
    pub read_only: bool,
    /// Individual tools to leave out, by exact name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(max = 65), regex(pattern = TOOL_PATTERN)),
        transform = rules::with_item_rules(vec![rules::known_tool_pattern()])
    )]
    pub disabled: Vec<String>,
}

fn yes() -> bool {
    true
}

impl ToolSets {
    /// Whether the server offers `tool`: its group is on, it does not write in read-only mode
    /// (the admin tools stay), and no `disabled` pattern names it.
    pub fn offers(&self, tool: &ToolEntry) -> bool {
        let group_on = match tool.group {
            ToolGroup::Core | ToolGroup::Admin => true,
            ToolGroup::Mail => self.mail,
            ToolGroup::Calendar => self.calendar,
            ToolGroup::Teams => self.teams,
            ToolGroup::Contacts => self.contacts,
            ToolGroup::Files => self.files,
            ToolGroup::Tasks => self.tasks,
        };
        group_on
            && !(self.read_only && tool.writes && tool.group != ToolGroup::Admin)
            && !self.disabled.iter().any(|p| pattern_matches(p, tool.name))
    }

    /// The catalog tools the server offers, in catalog order.
    pub fn offered(&self) -> impl Iterator<Item = &'static ToolEntry> + '_ {
        TOOL_CATALOG.iter().filter(|t| self.offers(t))
    }
}

impl Default for ToolSets {
    fn default() -> Self {
        Self {
            mail: true,
            calendar: true,
            teams: true,
            contacts: true,
            files: true,
            tasks: true,
            read_only: false,
            disabled: Vec::new(),
        }
    }
}

/// A token bucket: `requests` per `period`, refilled evenly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::with_rules(rules::rate_limit()))]
pub struct RateLimit {
    /// Requests allowed per period (also the burst size).
    // int32: Kubernetes knows no uint32 format (and warns on every apply).
    #[schemars(range(min = 1, max = 1_000_000), extend("format" = "int32"))]
    pub requests: u32,
    /// The period, e.g. `15m`.
    pub period: HumanDuration,
}

impl RateLimit {
    pub const fn new(requests: u32, period_secs: u64) -> Self {
        Self {
            requests,
            period: HumanDuration::from_secs(period_secs),
        }
    }
}

/// Rate limits; a request over a limit is answered 429 with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimits {
    /// Per signed-in user (or service account), across all sessions.
    #[serde(default = "default_per_user")]
    pub per_user: RateLimit,
    /// Per client IP address, before authentication.
    #[serde(default = "default_per_ip")]
    pub per_ip: RateLimit,
    /// Per client IP on the sign-in and token endpoints.
    #[serde(default = "default_auth")]
    pub auth: RateLimit,
}

fn default_per_user() -> RateLimit {
    RateLimit::new(100, 15 * 60)
}
fn default_per_ip() -> RateLimit {
    RateLimit::new(600, 15 * 60)
}
fn default_auth() -> RateLimit {
    RateLimit::new(20, 15 * 60)
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_user: default_per_user(),
            per_ip: default_per_ip(),
            auth: default_auth(),
        }
    }
}

/// Lifetimes of the tokens the built-in authorization server issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::with_rules(rules::token_lifetimes()))]
pub struct TokenLifetimes {
    /// Access token lifetime; short, since access tokens cannot be revoked one by one.
    #[serde(default = "default_access")]
    pub access: HumanDuration,
    /// Refresh token lifetime; refresh tokens rotate on every use.
    #[serde(default = "default_refresh")]
    pub refresh: HumanDuration,
}

fn default_access() -> HumanDuration {
    HumanDuration::from_secs(5 * 60)
}
fn default_refresh() -> HumanDuration {
    HumanDuration::from_secs(24 * 3_600)
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access: default_access(),
            refresh: default_refresh(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `kubectl explain` says of each tool group names every Graph permission its tools
    /// need, so the CRD cannot drift from the catalog.
    #[test]
    fn each_group_description_names_its_tools_permissions() {
        let schema = serde_json::to_value(schemars::schema_for!(ToolSets)).unwrap();
        for (field, group) in [
            ("mail", ToolGroup::Mail),
            ("calendar", ToolGroup::Calendar),
            ("teams", ToolGroup::Teams),
            ("contacts", ToolGroup::Contacts),
            ("files", ToolGroup::Files),
            ("tasks", ToolGroup::Tasks),
        ] {
            let description = schema["properties"][field]["description"].as_str().unwrap();
            for tool in TOOL_CATALOG.iter().filter(|t| t.group == group) {
                for scope in tool.scopes {
                    assert!(
                        description.contains(scope),
                        "{field}: {scope} of {} missing",
                        tool.name
                    );
                }
            }
        }
    }

    #[test]
    fn read_only_offers_no_writing_tool_and_groups_switch_off() {
        let sets = ToolSets {
            read_only: true,
            tasks: false,
            disabled: vec!["files_*".into()],
            ..ToolSets::default()
        };
        for tool in sets.offered() {
            assert!(!tool.writes || tool.group == ToolGroup::Admin, "{}", tool.name);
            assert!(
                tool.group != ToolGroup::Tasks && !tool.name.starts_with("files_"),
                "{}",
                tool.name
            );
        }
        assert!(sets.offered().any(|t| t.name == "catch_me_up"));
        assert!(sets.offered().any(|t| t.name == "admin_revoke_grants"));
    }
}
