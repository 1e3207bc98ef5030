//! Prompts a user picks from the client's menu ("Triage my inbox"): each is one user message that
//! asks the model to do a piece of everyday work with the server's tools. A caller sees, and may
//! get, only the prompts whose tools their tiers allow; any other name is answered like an unknown
//! one. Arguments are bounded, checked against the prompt's list and named when refused.

use rmcp::{
    ErrorData,
    model::{CompletionInfo, GetPromptResult, Prompt, PromptArgument, PromptMessage, Role},
};
use serde_json::{Map, Value};

use crate::{caller::Caller, tool_calls::ToolCalls};

/// The longest argument value, in characters.
pub const MAX_ARGUMENT_CHARS: usize = 500;

/// One argument of a prompt.
pub struct Argument {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    /// Values offered as completions (`completion/complete`).
    pub suggestions: &'static [&'static str],
}

/// A prompt's checked arguments by name (absent optional ones are `None`).
type Arguments<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One prompt: what the menu shows, the tools it needs, and its message.
pub struct PromptDefinition {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub arguments: &'static [Argument],
    /// Every tool the message asks for; the prompt is offered only when the caller may use all.
    pub tools: &'static [&'static str],
    /// The message, from the checked arguments.
    render: fn(Arguments<'_>) -> String,
}

const fn required(name: &'static str, description: &'static str) -> Argument {
    Argument {
        name,
        description,
        required: true,
        suggestions: &[],
    }
}

const fn optional(name: &'static str, description: &'static str) -> Argument {
    Argument {
        name,
        description,
        required: false,
        suggestions: &[],
    }
}

impl Argument {
    const fn suggesting(self, suggestions: &'static [&'static str]) -> Self {
        Self { suggestions, ..self }
    }
}

/// `" {prefix}{value}"` when the argument is there, else nothing.
fn clause(value: Option<String>, prefix: &str) -> String {
    value.map(|v| format!(" {prefix}\"{v}\"")).unwrap_or_default()
}

pub const PROMPTS: &[PromptDefinition] = &[
    PromptDefinition {
        name: "triage_inbox",
        title: "Triage my inbox",
        description: "Sort recent mail into what needs a reply, what needs action, what is FYI and what can wait.",
        arguments: &[optional(
            "focus",
            "What matters most right now, e.g. \"the Contoso deal\" (optional).",
        )],
        tools: &["inbox_triage", "mail_get_message"],
        render: |arg| {
            format!(
                "Triage my inbox. Use inbox_triage to go through my recent mail, and mail_get_message \
                 where a message needs a closer look. Sort what you find into: needs a reply from me, \
                 needs an action, FYI, and can wait. For each message give one line: sender, subject, \
                 and why it is in that group. Put the most urgent first.{}",
                clause(arg("focus"), "Give priority to anything about ")
            )
        },
    },
    PromptDefinition {
        name: "prepare_next_meeting",
        title: "Prepare me for my next meeting",
        description: "A short brief of your next meeting: who, why, what was said before, what to ask.",
        arguments: &[optional(
            "meeting",
            "Words from the meeting's subject, when it is not the very next one (optional).",
        )],
        tools: &["calendar_list_events", "meeting_brief"],
        render: |arg| {
            format!(
                "Prepare me for my next meeting{}. Find it with calendar_list_events, then use \
                 meeting_brief for its attendees, agenda and related mail and files. Give me five \
                 bullets I should know going in and three questions worth asking. Do not change the \
                 meeting.",
                clause(arg("meeting"), "whose subject mentions ")
            )
        },
    },
    PromptDefinition {
        name: "draft_reply",
        title: "Draft a reply to a message",
        description: "Read a message and save a reply as a draft for you to review; nothing is sent.",
        arguments: &[
            required(
                "message_id",
                "The id of the message to answer (from a mail tool).",
            ),
            optional(
                "intent",
                "What the reply should say, e.g. \"accept, propose Tuesday\" (optional).",
            ),
            optional("tone", "The tone, e.g. \"brief and friendly\" (optional).").suggesting(&[
                "brief and friendly",
                "formal",
                "warm",
                "direct",
                "apologetic",
            ]),
        ],
        tools: &["mail_get_message", "mail_create_draft"],
        render: |arg| {
            format!(
                "Read the message with id \"{}\" using mail_get_message and draft a reply{}{}. Save it \
                 with mail_create_draft and show it to me. Do not send it.",
                arg("message_id").unwrap_or_default(),
                clause(arg("intent"), "that says "),
                clause(arg("tone"), "in this tone: ")
            )
        },
    },
    PromptDefinition {
        name: "summarise_channel",
        title: "Summarise a Teams channel",
        description: "What was discussed in a channel lately: decisions, open questions, and what is asked of you.",
        arguments: &[
            required("team", "The team's name, e.g. \"Marketing\"."),
            required("channel", "The channel's name, e.g. \"Campaigns\"."),
            optional(
                "focus",
                "A topic to pay attention to, e.g. \"the spring campaign\" (optional).",
            ),
        ],
        tools: &["teams_list_teams", "teams_list_channels", "teams_read_channel"],
        render: |arg| {
            format!(
                "Summarise the recent discussion in the \"{}\" channel of the \"{}\" team. Find the team \
                 with teams_list_teams and the channel with teams_list_channels, then read it with \
                 teams_read_channel. Give me: the decisions made, the open questions, and anything that \
                 asks something of me, each with who said it. Do not post anything.{}",
                arg("channel").unwrap_or_default(),
                arg("team").unwrap_or_default(),
                clause(arg("focus"), "Pay most attention to ")
            )
        },
    },
    PromptDefinition {
        name: "find_time",
        title: "Find time with people",
        description: "Find meeting slots that suit you and the people you name; nothing is booked.",
        arguments: &[
            required(
                "attendees",
                "Who to meet: names or addresses, separated by commas.",
            ),
            optional(
                "duration",
                "How long, e.g. \"30 minutes\" (optional; 30 minutes by default).",
            )
            .suggesting(&["15 minutes", "30 minutes", "45 minutes", "1 hour", "90 minutes"]),
            optional(
                "within",
                "When, e.g. \"this week\" or \"before Friday\" (optional).",
            )
            .suggesting(&["today", "tomorrow", "this week", "next week", "this month"]),
        ],
        tools: &["people_search", "calendar_find_meeting_times"],
        render: |arg| {
            format!(
                "Find time for a meeting of {} with \"{}\"{}. Resolve each person with people_search, \
                 then use calendar_find_meeting_times. Propose the three best slots with who is free \
                 in each. Do not create the meeting.",
                arg("duration").unwrap_or_else(|| "30 minutes".into()),
                arg("attendees").unwrap_or_default(),
                clause(arg("within"), "within ")
            )
        },
    },
];

impl PromptDefinition {
    /// As MCP lists it.
    pub fn to_mcp(&self) -> Prompt {
        let arguments = self
            .arguments
            .iter()
            .map(|a| {
                PromptArgument::new(a.name)
                    .with_description(a.description)
                    .with_required(a.required)
            })
            .collect();
        Prompt::new(self.name, Some(self.description), Some(arguments)).with_title(self.title)
    }

    /// The message for `arguments` (strings only, each listed, bounded; the required ones there).
    pub fn get(&self, arguments: Option<&Map<String, Value>>) -> Result<GetPromptResult, ErrorData> {
        let empty = Map::new();
        let given = arguments.unwrap_or(&empty);
        for (name, value) in given {
            if !self.arguments.iter().any(|a| a.name == name) {
                let known: Vec<&str> = self.arguments.iter().map(|a| a.name).collect();
                return Err(invalid(format!(
                    "prompt {}: unknown argument {name:?} (it takes {known:?})",
                    self.name
                )));
            }
            let Value::String(text) = value else {
                return Err(invalid(format!(
                    "prompt {}: argument {name:?} must be a string",
                    self.name
                )));
            };
            if text.chars().count() > MAX_ARGUMENT_CHARS {
                return Err(invalid(format!(
                    "prompt {}: argument {name:?} is longer than {MAX_ARGUMENT_CHARS} characters",
                    self.name
                )));
            }
        }
        let value = |name: &str| {
            given
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                // A quote in a value would end the quotation in the message.
                .map(|v| v.replace('"', "'"))
        };
        if let Some(missing) = self
            .arguments
            .iter()
            .find(|a| a.required && value(a.name).is_none())
        {
            return Err(invalid(format!(
                "prompt {}: argument {:?} is required",
                self.name, missing.name
            )));
        }
        let text = (self.render)(&value);
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(self.description),
        )
    }
}

fn invalid(message: String) -> ErrorData {
    ErrorData::invalid_params(message, None)
}

/// The prompts `caller` may use: every tool of each is one their tiers allow (and the tenant
/// offers).
pub fn allowed<'a>(
    calls: &'a ToolCalls,
    caller: &'a Caller,
) -> impl Iterator<Item = &'static PromptDefinition> + 'a {
    PROMPTS
        .iter()
        .filter(move |p| p.tools.iter().all(|needed| calls.offers(caller, needed)))
}

/// Completions of the argument `argument` of the prompt `prompt`, from what was typed (`value`):
/// its suggestions that start with it, ignoring case.
pub fn complete(
    calls: &ToolCalls,
    caller: &Caller,
    prompt: &str,
    argument: &str,
    value: &str,
) -> Result<CompletionInfo, ErrorData> {
    let definition = find(calls, caller, prompt)?;
    let Some(argument) = definition.arguments.iter().find(|a| a.name == argument) else {
        let known: Vec<&str> = definition.arguments.iter().map(|a| a.name).collect();
        return Err(invalid(format!(
            "prompt {prompt}: unknown argument {:?} (it takes {known:?})",
            argument.chars().take(64).collect::<String>()
        )));
    };
    let typed = value.trim().to_lowercase();
    let values = argument
        .suggestions
        .iter()
        .filter(|s| s.starts_with(&typed))
        .map(|s| (*s).to_owned())
        .collect();
    CompletionInfo::with_all_values(values).map_err(|e| ErrorData::internal_error(e, None))
}

/// The prompt `name` for `caller`; one they may not use is answered like one that does not exist.
pub fn find(calls: &ToolCalls, caller: &Caller, name: &str) -> Result<&'static PromptDefinition, ErrorData> {
    allowed(calls, caller)
        .find(|p| p.name == name)
        .ok_or_else(|| invalid(format!("unknown prompt: {name}")))
}

#[cfg(test)]
mod tests {
    use mcp_tenancy_config::catalog;
    use serde_json::json;

    use super::*;

    fn text(result: &GetPromptResult) -> String {
        serde_json::to_value(&result.messages[0].content).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn prompt(name: &str) -> &'static PromptDefinition {
        PROMPTS.iter().find(|p| p.name == name).unwrap()
    }

    #[test]
    fn every_prompt_names_catalog_tools_and_lists_its_arguments() {
        for p in PROMPTS {
            for tool in p.tools {
                assert!(
                    catalog::TOOL_CATALOG.iter().any(|t| t.name == *tool),
                    "{}: {tool}",
                    p.name
                );
            }
            let listed = serde_json::to_value(p.to_mcp()).unwrap();
            assert_eq!(listed["name"], p.name);
            assert_eq!(listed["title"], p.title);
            assert_eq!(listed["arguments"].as_array().unwrap().len(), p.arguments.len());
            // With every argument absent but the required ones, the message names its tools.
            let args: Map<String, Value> = p
                .arguments
                .iter()
                .filter(|a| a.required)
                .map(|a| (a.name.to_owned(), json!("x")))
                .collect();
            let message = text(&p.get(Some(&args)).unwrap());
            for tool in p.tools {
                assert!(message.contains(tool), "{}: {message}", p.name);
            }
        }
    }

    #[test]
    fn arguments_are_substituted_and_optional_ones_may_be_absent() {
        let draft = prompt("draft_reply");
        let args = json!({"message_id": "AAMkAD=", "intent": "accept, propose \"Tuesday\"", "tone": "  "});
        let message = text(&draft.get(args.as_object()).unwrap());
        assert!(message.contains("\"AAMkAD=\""), "{message}");
        assert!(
            message.contains("that says \"accept, propose 'Tuesday'\""),
            "{message}"
        );
        assert!(
            !message.contains("tone"),
            "a blank optional argument is absent: {message}"
        );
        let find = text(
            &prompt("find_time")
                .get(json!({"attendees": "Ana, Bo"}).as_object())
                .unwrap(),
        );
        assert!(
            find.starts_with("Find time for a meeting of 30 minutes with \"Ana, Bo\"."),
            "{find}"
        );
        assert!(text(&prompt("triage_inbox").get(None).unwrap()).contains("inbox_triage"));
    }

    #[test]
    fn bad_arguments_are_refused_naming_the_prompt_and_argument() {
        let draft = prompt("draft_reply");
        let refused = |args: Value| draft.get(args.as_object()).unwrap_err().message.to_string();
        assert_eq!(
            refused(json!({})),
            "prompt draft_reply: argument \"message_id\" is required"
        );
        assert_eq!(
            refused(json!({"message_id": "   "})),
            "prompt draft_reply: argument \"message_id\" is required"
        );
        assert!(refused(json!({"message_id": "m", "to": "x"})).contains("unknown argument \"to\""));
        assert_eq!(
            refused(json!({"message_id": 7})),
            "prompt draft_reply: argument \"message_id\" must be a string"
        );
        let long = "x".repeat(MAX_ARGUMENT_CHARS + 1);
        assert!(refused(json!({"message_id": long})).contains("longer than 500 characters"));
        let error = draft.get(json!({}).as_object()).unwrap_err();
        assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS);
    }
}
