//! The catalog of tools a tenant server can offer. The operator validates tier and service-account
//! tool patterns against it; the tenant server registers exactly these names (a test there checks).

use serde::{Deserialize, Serialize};

/// The group a tool belongs to; each group can be switched off per tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolGroup {
    /// Always on: identity and server information.
    Core,
    Mail,
    Calendar,
    Teams,
    Contacts,
    Files,
    /// Builtin mode only: other users' sign-ins. Callable only through a tier that requires
    /// MFA and names the tools with an `admin_` pattern (never by `*`).
    Admin,
}

impl ToolGroup {
    /// Whether the group's tools work with Microsoft 365 (through Graph).
    pub fn is_m365(self) -> bool {
        !matches!(self, Self::Core | Self::Admin)
    }
}

/// One tool the server can offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolEntry {
    pub name: &'static str,
    pub group: ToolGroup,
    /// Changes data (sends, creates, revokes). Read-only mode leaves out the Microsoft 365 tools
    /// that do; the admin tools stay.
    pub writes: bool,
}

const fn tool(name: &'static str, group: ToolGroup, writes: bool) -> ToolEntry {
    ToolEntry { name, group, writes }
}

/// Every tool, in the order `tools/list` shows them.
pub const TOOL_CATALOG: &[ToolEntry] = &[
    tool("whoami", ToolGroup::Core, false),
    tool("server_info", ToolGroup::Core, false),
    tool("mail_list_messages", ToolGroup::Mail, false),
    tool("mail_list_folders", ToolGroup::Mail, false),
    tool("mail_search", ToolGroup::Mail, false),
    tool("mail_get_message", ToolGroup::Mail, false),
    tool("mail_send", ToolGroup::Mail, true),
    tool("mail_reply", ToolGroup::Mail, true),
    tool("mail_create_draft", ToolGroup::Mail, true),
    tool("inbox_triage", ToolGroup::Mail, false),
    tool("calendar_list_events", ToolGroup::Calendar, false),
    tool("calendar_get_event", ToolGroup::Calendar, false),
    tool("calendar_create_event", ToolGroup::Calendar, true),
    tool("calendar_find_meeting_times", ToolGroup::Calendar, false),
    tool("meeting_brief", ToolGroup::Calendar, false),
    tool("teams_list_teams", ToolGroup::Teams, false),
    tool("teams_list_channels", ToolGroup::Teams, false),
    tool("teams_read_channel", ToolGroup::Teams, false),
    tool("teams_read_chat", ToolGroup::Teams, false),
    tool("teams_send_channel_message", ToolGroup::Teams, true),
    tool("teams_create_online_meeting", ToolGroup::Teams, true),
    tool("contacts_search", ToolGroup::Contacts, false),
    tool("people_search", ToolGroup::Contacts, false),
    tool("files_search", ToolGroup::Files, false),
    tool("files_read_text", ToolGroup::Files, false),
    tool("admin_list_grants", ToolGroup::Admin, false),
    tool("admin_revoke_grants", ToolGroup::Admin, true),
];

/// The entry of `name`, for use in constants: a name outside the catalog fails the build
/// (`const { entry(NAME) }`), so a tool cannot be written without its catalog entry.
#[allow(
    clippy::panic,
    reason = "evaluated at compile time, where a panic is a build error"
)]
pub const fn entry(name: &str) -> ToolEntry {
    let mut i = 0;
    while i < TOOL_CATALOG.len() {
        if same_name(TOOL_CATALOG[i].name, name) {
            return TOOL_CATALOG[i];
        }
        i += 1;
    }
    panic!("the tool is not in the tool catalog")
}

/// `a == b`, in a `const fn`.
const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Looks a tool up by its exact name.
pub fn find_tool(name: &str) -> Option<&'static ToolEntry> {
    TOOL_CATALOG.iter().find(|t| t.name == name)
}

/// A tool pattern as written in tiers: `*` (every tool), `mail_*` (a prefix) or an exact name.
pub fn pattern_matches(pattern: &str, tool: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => pattern == tool,
    }
}

/// The prefix of every admin tool, and of every pattern that may reach them.
pub const ADMIN_PREFIX: &str = "admin_";

/// Whether `tool` is reached by `pattern` in a tier: as [`pattern_matches`], except that an
/// admin tool is reached only by a pattern naming admin tools (`admin_*`, `admin_list_grants`),
/// never by `*` or a shorter prefix.
pub fn tier_pattern_reaches(pattern: &str, tool: &str) -> bool {
    pattern_matches(pattern, tool) && (!tool.starts_with(ADMIN_PREFIX) || pattern.starts_with(ADMIN_PREFIX))
}

/// Why a tier may not name admin tools: it does not require MFA.
pub const ADMIN_TIER_NEEDS_MFA: &str = "names admin tools, so the tier must set requireMfa: true";
/// Why a service account may not name admin tools.
pub const ADMIN_NOT_FOR_SERVICE_ACCOUNTS: &str =
    "names admin tools, which only a signed-in user with MFA may call, never a service account";

/// The index of the first pattern naming admin tools, for the checks above.
pub fn admin_pattern(patterns: &[String]) -> Option<usize> {
    patterns.iter().position(|p| p.starts_with(ADMIN_PREFIX))
}

/// Whether a pattern names at least one tool of the catalog (a typo names none).
pub fn pattern_is_known(pattern: &str) -> bool {
    TOOL_CATALOG.iter().any(|t| pattern_matches(pattern, t.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid_mcp_tool_names() {
        let mut names: Vec<_> = TOOL_CATALOG.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOOL_CATALOG.len());
        for n in names {
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{n}");
        }
    }

    #[test]
    fn patterns_match_exact_prefix_and_all() {
        assert!(pattern_matches("*", "mail_send"));
        assert!(pattern_matches("mail_*", "mail_send"));
        assert!(!pattern_matches("mail_*", "calendar_list_events"));
        assert!(pattern_matches("whoami", "whoami"));
        assert!(!pattern_matches("whoami", "whoami_extra"));
        assert!(pattern_is_known("teams_*"));
        assert!(!pattern_is_known("mial_*"));
        assert!(!pattern_is_known("mail_delete"));
    }

    #[test]
    fn only_admin_patterns_reach_admin_tools() {
        assert!(tier_pattern_reaches("admin_*", "admin_list_grants"));
        assert!(tier_pattern_reaches("admin_list_grants", "admin_list_grants"));
        assert!(!tier_pattern_reaches("*", "admin_list_grants"));
        assert!(!tier_pattern_reaches("a*", "admin_revoke_grants"));
        assert!(tier_pattern_reaches("*", "mail_send"));
        assert!(!tier_pattern_reaches("admin_*", "mail_send"));
        for tool in TOOL_CATALOG {
            assert_eq!(
                tool.group == ToolGroup::Admin,
                tool.name.starts_with(ADMIN_PREFIX),
                "{}",
                tool.name
            );
        }
    }

    #[test]
    fn entries_are_found_by_exact_name_in_constants() {
        const SEND: ToolEntry = entry("mail_send");
        const { assert!(SEND.writes) };
        assert_eq!(entry("whoami").group, ToolGroup::Core);
        assert!(!same_name("mail_send", "mail_sen") && !same_name("mail_send", "MAIL_SEND"));
    }
}
