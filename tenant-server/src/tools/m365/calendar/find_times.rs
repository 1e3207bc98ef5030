//! Meeting times: when the user and the attendees are free (findMeetingTimes).

use std::sync::Arc;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::window;
use crate::{
    graph::{Endpoint, GraphError, GraphRequest},
    tools::{
        Tool, ToolContext, ToolError,
        m365::{M365Deps, bounded, invalid, model::recipients},
        typed::{TypedTool, typed},
    },
};

const FIND_MEETING_TIMES: Endpoint = Endpoint::new("/me/findMeetingTimes");

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindArgs {
    /// Addresses of the people who must attend.
    #[schemars(length(min = 1, max = 20))]
    pub attendees: Vec<String>,
    /// Meeting length in minutes (15-480).
    #[schemars(range(min = 15, max = 480))]
    pub duration_minutes: u32,
    /// Search window start, RFC 3339 (default now).
    pub start: Option<String>,
    /// Search window end, RFC 3339 (default start + 7 days; at most 31 days).
    pub end: Option<String>,
    /// Most suggestions (1-20, default 5).
    #[schemars(range(min = 1, max = 20))]
    pub max_candidates: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Availability {
    pub address: String,
    /// `free`, `tentative`, `busy`, `oof`, `unknown`.
    pub availability: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Suggestion {
    /// UTC date-time.
    pub start: String,
    pub end: String,
    pub confidence: f64,
    pub attendees: Vec<Availability>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Suggestions {
    pub suggestions: Vec<Suggestion>,
    /// Why there are none, when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_reason: Option<String>,
}

pub struct FindMeetingTimes;

#[async_trait::async_trait]
impl TypedTool for FindMeetingTimes {
    type Deps = M365Deps;
    type Args = FindArgs;
    type Output = Suggestions;
    const NAME: &'static str = "calendar_find_meeting_times";
    const TITLE: &'static str = "Find meeting times";
    const DESCRIPTION: &'static str = "Suggest times when the user and the given attendees are free for a meeting \
        of the given length within a window (default: the next 7 days, at most 31). Does not book anything.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: FindArgs,
    ) -> Result<(Suggestions, String), ToolError> {
        if a.attendees.is_empty() || a.attendees.len() > 20 {
            return Err(invalid("`attendees` must list 1 to 20 addresses"));
        }
        if !(15..=480).contains(&a.duration_minutes) {
            return Err(invalid("`duration_minutes` must be between 15 and 480"));
        }
        let max = bounded("max_candidates", a.max_candidates, 5, 20)?;
        let (start, end) = window(a.start.as_deref(), a.end.as_deref(), 7)?;
        let mut attendees = recipients(&a.attendees)?;
        for r in &mut attendees {
            r["type"] = json!("required");
        }
        let utc = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
        let body = json!({
            "attendees": attendees,
            "timeConstraint": {
                "activityDomain": "work",
                "timeSlots": [{"start": {"dateTime": utc(start), "timeZone": "UTC"}, "end": {"dateTime": utc(end), "timeZone": "UTC"}}],
            },
            "meetingDuration": format!("PT{}H{}M", a.duration_minutes / 60, a.duration_minutes % 60),
            "maxCandidates": max,
            "returnSuggestionReasons": true,
        });
        let req = GraphRequest::post(FIND_MEETING_TIMES, &[], body)?;
        let v: serde_json::Value = deps.graph.send(ctx.into(), &req).await?;
        let suggestions: Vec<Suggestion> = v
            .get("meetingTimeSuggestions")
            .and_then(|s| s.as_array())
            .ok_or_else(|| {
                ToolError::from(GraphError::Malformed(
                    "findMeetingTimes returned no suggestions array".into(),
                ))
            })?
            .iter()
            .map(suggestion)
            .collect();
        let empty_reason = v
            .get("emptySuggestionsReason")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty() && suggestions.is_empty())
            .map(str::to_string);
        let mut text = format!("{} suggestion(s) (UTC)", suggestions.len());
        for s in &suggestions {
            text.push_str(&format!("\n- {} – {}", s.start, s.end));
        }
        if let Some(r) = &empty_reason {
            text.push_str(&format!(" — {r}"));
        }
        Ok((
            Suggestions {
                suggestions,
                empty_reason,
            },
            text,
        ))
    }
}

/// One of Graph's `meetingTimeSuggestions`.
fn suggestion(s: &serde_json::Value) -> Suggestion {
    let text = |v: Option<&serde_json::Value>, default: &str| {
        v.and_then(|v| v.as_str()).unwrap_or(default).to_string()
    };
    Suggestion {
        start: text(s.pointer("/meetingTimeSlot/start/dateTime"), ""),
        end: text(s.pointer("/meetingTimeSlot/end/dateTime"), ""),
        confidence: s.get("confidence").and_then(|v| v.as_f64()).unwrap_or(0.0),
        attendees: s
            .get("attendeeAvailability")
            .and_then(|v| v.as_array())
            .map(|list| {
                list.iter()
                    .map(|x| Availability {
                        address: text(x.pointer("/attendee/emailAddress/address"), ""),
                        availability: text(x.get("availability"), "unknown"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![typed::<FindMeetingTimes>(deps.clone())]
}
