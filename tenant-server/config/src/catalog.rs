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
    /// Microsoft To Do task lists and tasks.
    Tasks,
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
    /// The delegated Microsoft Graph permissions the tool needs (least privileged first).
    pub scopes: &'static [&'static str],
}

const fn tool(
    name: &'static str,
    group: ToolGroup,
    writes: bool,
    scopes: &'static [&'static str],
) -> ToolEntry {
    ToolEntry {
        name,
        group,
        writes,
        scopes,
    }
}

// Scope sets several tools share.
const MAIL_READ: &[&str] = &["Mail.Read"];
const MAIL_WRITE: &[&str] = &["Mail.ReadWrite"];
const MAIL_SEND: &[&str] = &["Mail.Send"];
const CALENDAR_READ: &[&str] = &["Calendars.Read"];
const CALENDAR_WRITE: &[&str] = &["Calendars.ReadWrite"];
const CHAT_READ: &[&str] = &["Chat.Read"];
const FILES_READ_ALL: &[&str] = &["Files.Read.All"];
const TASKS_READ: &[&str] = &["Tasks.Read"];
const TASKS_WRITE: &[&str] = &["Tasks.ReadWrite"];
const NONE: &[&str] = &[];

/// Every tool, in the order `tools/list` shows them.
pub const TOOL_CATALOG: &[ToolEntry] = &[
    tool("whoami", ToolGroup::Core, false, NONE),
    tool("server_info", ToolGroup::Core, false, NONE),
    tool("mail_list_messages", ToolGroup::Mail, false, MAIL_READ),
    tool("mail_list_folders", ToolGroup::Mail, false, MAIL_READ),
    tool("mail_search", ToolGroup::Mail, false, MAIL_READ),
    tool("mail_get_message", ToolGroup::Mail, false, MAIL_READ),
    tool("mail_read_attachment", ToolGroup::Mail, false, MAIL_READ),
    tool("mail_send", ToolGroup::Mail, true, MAIL_SEND),
    tool("mail_reply", ToolGroup::Mail, true, MAIL_SEND),
    tool("mail_create_draft", ToolGroup::Mail, true, MAIL_WRITE),
    tool("mail_move_message", ToolGroup::Mail, true, MAIL_WRITE),
    tool("mail_mark_message", ToolGroup::Mail, true, MAIL_WRITE),
    tool("mail_delete_message", ToolGroup::Mail, true, MAIL_WRITE),
    tool("mail_forward", ToolGroup::Mail, true, MAIL_SEND),
    tool("mail_send_draft", ToolGroup::Mail, true, MAIL_SEND),
    tool(
        "inbox_triage",
        ToolGroup::Mail,
        false,
        &["Mail.Read", "People.Read"],
    ),
    tool(
        "catch_me_up",
        ToolGroup::Mail,
        false,
        &["Mail.Read", "People.Read"],
    ),
    tool("calendar_list_events", ToolGroup::Calendar, false, CALENDAR_READ),
    tool("calendar_get_event", ToolGroup::Calendar, false, CALENDAR_READ),
    tool("calendar_create_event", ToolGroup::Calendar, true, CALENDAR_WRITE),
    tool("calendar_update_event", ToolGroup::Calendar, true, CALENDAR_WRITE),
    tool("calendar_cancel_event", ToolGroup::Calendar, true, CALENDAR_WRITE),
    tool(
        "calendar_respond_to_event",
        ToolGroup::Calendar,
        true,
        CALENDAR_WRITE,
    ),
    tool(
        "calendar_list_calendars",
        ToolGroup::Calendar,
        false,
        CALENDAR_READ,
    ),
    tool(
        "calendar_find_meeting_times",
        ToolGroup::Calendar,
        false,
        &["Calendars.Read.Shared"],
    ),
    tool(
        "meeting_brief",
        ToolGroup::Calendar,
        false,
        &["Calendars.Read", "Mail.Read", "People.Read", "Sites.Read.All"],
    ),
    tool(
        "teams_list_teams",
        ToolGroup::Teams,
        false,
        &["Team.ReadBasic.All"],
    ),
    tool(
        "teams_list_channels",
        ToolGroup::Teams,
        false,
        &["Channel.ReadBasic.All"],
    ),
    tool(
        "teams_read_channel",
        ToolGroup::Teams,
        false,
        &["ChannelMessage.Read.All"],
    ),
    tool("teams_read_chat", ToolGroup::Teams, false, CHAT_READ),
    tool("teams_list_chats", ToolGroup::Teams, false, CHAT_READ),
    tool(
        "teams_send_channel_message",
        ToolGroup::Teams,
        true,
        &["ChannelMessage.Send"],
    ),
    tool(
        "teams_reply_to_channel_message",
        ToolGroup::Teams,
        true,
        &["ChannelMessage.Send"],
    ),
    tool(
        "teams_send_chat_message",
        ToolGroup::Teams,
        true,
        &["ChatMessage.Send"],
    ),
    tool(
        "teams_get_presence",
        ToolGroup::Teams,
        false,
        &["Presence.Read.All"],
    ),
    tool(
        "teams_create_online_meeting",
        ToolGroup::Teams,
        true,
        &["OnlineMeetings.ReadWrite"],
    ),
    tool("contacts_search", ToolGroup::Contacts, false, &["Contacts.Read"]),
    tool("people_search", ToolGroup::Contacts, false, &["People.Read"]),
    tool(
        "people_get_profile",
        ToolGroup::Contacts,
        false,
        &["User.Read.All"],
    ),
    tool(
        "people_list_direct_reports",
        ToolGroup::Contacts,
        false,
        &["User.Read.All"],
    ),
    tool("files_search", ToolGroup::Files, false, FILES_READ_ALL),
    tool("files_read_text", ToolGroup::Files, false, FILES_READ_ALL),
    tool("files_list_recent", ToolGroup::Files, false, &["Files.Read"]),
    tool("files_list_shared", ToolGroup::Files, false, FILES_READ_ALL),
    tool("files_upload_text", ToolGroup::Files, true, &["Files.ReadWrite"]),
    tool("tasks_list_lists", ToolGroup::Tasks, false, TASKS_READ),
    tool("tasks_list_tasks", ToolGroup::Tasks, false, TASKS_READ),
    tool("tasks_create_task", ToolGroup::Tasks, true, TASKS_WRITE),
    tool("tasks_complete_task", ToolGroup::Tasks, true, TASKS_WRITE),
    tool("admin_list_grants", ToolGroup::Admin, false, NONE),
    tool("admin_revoke_grants", ToolGroup::Admin, true, NONE),
];

/// What every tenant requests whatever its tools: sign-in, refresh tokens, and the user's own
/// profile (`whoami`, the sign-in name and tenant).
pub const BASE_SCOPES: &[&str] = &["openid", "profile", "offline_access", "User.Read"];

/// The delegated scopes a tenant offering `tools` requests upstream: [`BASE_SCOPES`], then each
/// tool's scopes once, in catalog order. A read permission is left out when its read-write
/// counterpart is requested (`Mail.Read` beside `Mail.ReadWrite`), as the latter grants it.
pub fn required_scopes<'a>(tools: impl IntoIterator<Item = &'a ToolEntry>) -> Vec<&'static str> {
    let mut scopes: Vec<&'static str> = BASE_SCOPES.to_vec();
    for tool in tools {
        for scope in tool.scopes {
            if !scopes.contains(scope) {
                scopes.push(scope);
            }
        }
    }
    let granted_by_write = |scope: &str| {
        let write = scope.replacen(".Read", ".ReadWrite", 1);
        scope.contains(".Read") && !scope.contains(".ReadWrite") && scopes.contains(&write.as_str())
    };
    scopes.iter().copied().filter(|s| !granted_by_write(s)).collect()
}

/// The catalog as a Markdown document: per group, each tool, whether it writes, and the Graph
/// permissions it needs; then what a tenant requests by default (`docs/tools.md` is this text).
pub fn markdown() -> String {
    use std::fmt::Write as _;

    let mut md = String::from(
        "# Tools\n\n<!-- Generated by `mcp-tenancy-operator tools` (scripts/generate); do not edit. -->\n\n\
         Every tool a tenant server can offer, in the order `tools/list` shows them. A group is \
         switched off with `spec.tools.<group>: false`; `spec.tools.readOnly: true` leaves out every \
         tool that writes. Unless `spec.identity.upstream.scopes` is set, the operator requests \
         exactly the permissions of the tools offered, plus the sign-in scopes \
         (`status.graphScopes` shows them).\n\n\
         | Tool | Group | Writes | Microsoft Graph permissions (delegated) |\n|---|---|---|---|\n",
    );
    for t in TOOL_CATALOG {
        let scopes = if t.scopes.is_empty() {
            "none".to_string()
        } else {
            t.scopes
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            md,
            "| `{}` | {:?} | {} | {scopes} |",
            t.name,
            t.group,
            if t.writes { "yes" } else { "no" }
        );
    }
    let all = required_scopes(TOOL_CATALOG);
    let read_only = required_scopes(TOOL_CATALOG.iter().filter(|t| !t.writes));
    let _ = write!(
        md,
        "\nEvery tool offered (the default) requests: {}.\n\nWith `readOnly: true`: {}.\n",
        all.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
        read_only
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    md
}

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
    fn scopes_are_the_union_of_the_tools_without_reads_a_write_grants() {
        let by_name = |names: &[&str]| -> Vec<&'static ToolEntry> {
            names.iter().map(|n| find_tool(n).unwrap()).collect()
        };
        assert_eq!(required_scopes([]), BASE_SCOPES);
        assert_eq!(
            required_scopes(by_name(&["mail_list_messages", "mail_search", "whoami"])),
            ["openid", "profile", "offline_access", "User.Read", "Mail.Read"]
        );
        // Mail.ReadWrite grants Mail.Read; Mail.Send is another permission.
        assert_eq!(
            required_scopes(by_name(&["mail_list_messages", "mail_create_draft", "mail_send"]))[4..],
            ["Mail.ReadWrite", "Mail.Send"]
        );
        // Calendars.ReadWrite does not grant Calendars.Read.Shared.
        assert_eq!(
            required_scopes(by_name(&["calendar_create_event", "calendar_find_meeting_times"]))[4..],
            ["Calendars.ReadWrite", "Calendars.Read.Shared"]
        );
        for t in TOOL_CATALOG {
            assert_eq!(t.group.is_m365(), !t.scopes.is_empty(), "{}", t.name);
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
