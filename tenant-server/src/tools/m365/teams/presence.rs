//! Presence: whether colleagues are available, busy or away, in one `$batch`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    graph::{BatchItem, Endpoint, GraphRequest},
    tools::{
        Tool, ToolContext, ToolError,
        m365::{M365Deps, invalid, model::user_ref},
        typed::{TypedTool, typed},
    },
};

const PRESENCE: Endpoint = Endpoint::new("/users/{id}/presence");

/// Most colleagues asked about at once (one `$batch`).
const MAX_USERS: usize = 20;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceArgs {
    /// Colleagues by address (user principal name) or Entra object id.
    #[schemars(length(min = 1, max = 20))]
    pub users: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GPresence {
    #[serde(default)]
    availability: Option<String>,
    #[serde(default)]
    activity: Option<String>,
    #[serde(default)]
    status_message: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UserPresence {
    pub user: String,
    /// `Available`, `Busy`, `DoNotDisturb`, `BeRightBack`, `Away`, `Offline`, ...; absent when
    /// it could not be read (see `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability: Option<String>,
    /// What they are doing: `InACall`, `InAMeeting`, `Presenting`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    /// The status message they set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Why this person's presence could not be read (unknown user, no permission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PresenceList {
    pub presence: Vec<UserPresence>,
}

pub struct GetPresence;

#[async_trait::async_trait]
impl TypedTool for GetPresence {
    type Deps = M365Deps;
    type Args = PresenceArgs;
    type Output = PresenceList;
    const NAME: &'static str = "teams_get_presence";
    const TITLE: &'static str = "Who is available";
    const DESCRIPTION: &'static str = "Tell whether colleagues (by address or id, up to 20) are available, busy, in \
        a meeting, away or offline in Teams right now, with their status message.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: PresenceArgs,
    ) -> Result<(PresenceList, String), ToolError> {
        if a.users.is_empty() || a.users.len() > MAX_USERS {
            return Err(invalid(format!("`users`: 1-{MAX_USERS} colleagues")));
        }
        let users = a
            .users
            .iter()
            .map(|u| user_ref("users", u))
            .collect::<Result<Vec<_>, _>>()?;
        let items = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                Ok(BatchItem {
                    id: i.to_string(),
                    request: GraphRequest::get(PRESENCE, &[u])?,
                })
            })
            .collect::<Result<Vec<_>, ToolError>>()?;
        let answers = deps.graph.batch(ctx.into(), &items).await?;
        let mut presence = Vec::with_capacity(users.len());
        for (user, answer) in users.iter().zip(answers) {
            let read = answer.into_result().and_then(|v| {
                serde_json::from_value::<GPresence>(v)
                    .map_err(|e| crate::graph::GraphError::Malformed(format!("presence: {e}")))
            });
            presence.push(match read {
                Ok(p) => UserPresence {
                    user: (*user).to_owned(),
                    availability: p.availability,
                    activity: p.activity,
                    status_message: p
                        .status_message
                        .as_ref()
                        .and_then(|m| m.pointer("/message/content")?.as_str())
                        .map(str::to_owned)
                        .filter(|m| !m.is_empty()),
                    error: None,
                },
                Err(e) => UserPresence {
                    user: (*user).to_owned(),
                    availability: None,
                    activity: None,
                    status_message: None,
                    error: Some(ToolError::from(e).to_string()),
                },
            });
        }
        let mut text = String::new();
        for p in &presence {
            let state = match (&p.availability, &p.error) {
                (Some(a), _) => format!("{a} ({})", p.activity.as_deref().unwrap_or("-")),
                (None, Some(e)) => format!("unknown: {e}"),
                (None, None) => "unknown".into(),
            };
            text.push_str(&format!("- {}: {state}\n", p.user));
        }
        Ok((PresenceList { presence }, text.trim_end().to_owned()))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![typed::<GetPresence>(deps.clone())]
}
