//! Gathering a brief's parts: people data and recent mail for each attendee (two `$batch`es) and
//! the files they shared, in parallel, with progress as each part completes.

use std::{future::Future, pin::Pin};

use futures::{StreamExt, stream::FuturesUnordered};
use serde_json::Value;

use super::{AttendeeBrief, SharedFile, TOTAL_STEPS};
use crate::{
    graph::{BatchItem, BatchResponse, Endpoint, GraphError, GraphRequest, odata::Query},
    tools::{
        ToolContext, ToolError,
        m365::{
            M365Deps,
            directory::{GPerson, PEOPLE, PEOPLE_FIELDS, RelevantPerson},
            mail::MESSAGES,
            model::{GMessage, MessageSummary},
        },
    },
};

const SHARED_INSIGHTS: Endpoint = Endpoint::new("/me/insights/shared");

/// A finished part of the brief.
enum Part {
    People(Result<Vec<BatchResponse>, GraphError>),
    Mail(Result<Vec<BatchResponse>, GraphError>),
    Files(Result<Vec<Value>, GraphError>),
}

type PartFuture<'a> = Pin<Box<dyn Future<Output = Part> + Send + 'a>>;

/// One people lookup per attendee (`p<i>`).
fn people_lookups(attendees: &[AttendeeBrief]) -> Result<Vec<BatchItem>, GraphError> {
    attendees
        .iter()
        .enumerate()
        .map(|(i, x)| {
            Ok(BatchItem {
                id: format!("p{i}"),
                request: GraphRequest::get(PEOPLE, &[])?
                    .query(Query::new().search(&x.address).select(PEOPLE_FIELDS).top(1)),
            })
        })
        .collect()
}

/// One search for recent mail with each attendee (`m<i>`), `per` messages each.
fn mail_lookups(attendees: &[AttendeeBrief], per: u32) -> Result<Vec<BatchItem>, GraphError> {
    attendees
        .iter()
        .enumerate()
        .map(|(i, x)| {
            Ok(BatchItem {
                id: format!("m{i}"),
                request: GraphRequest::get(MESSAGES, &[])?.query(
                    Query::new()
                        .search(&format!("participants:{}", x.address))
                        .select(&[
                            "id",
                            "subject",
                            "from",
                            "receivedDateTime",
                            "bodyPreview",
                            "webLink",
                            "isRead",
                            "importance",
                            "hasAttachments",
                        ])
                        .top(per),
                ),
            })
        })
        .collect()
}

/// Fetches people data, recent mail and shared files in parallel, filling in `attendees` and
/// reporting progress as each part completes; returns the files the attendees shared.
pub(super) async fn gather(
    deps: &M365Deps,
    ctx: &ToolContext,
    attendees: &mut [AttendeeBrief],
    per: u32,
    gaps: &mut Vec<String>,
) -> Result<Vec<SharedFile>, ToolError> {
    let people_items = people_lookups(attendees)?;
    let mail_items = mail_lookups(attendees, per)?;
    let files_req = GraphRequest::get(SHARED_INSIGHTS, &[])?.query(Query::new().top(50));
    let mut parts: FuturesUnordered<PartFuture<'_>> = FuturesUnordered::new();
    parts.push(Box::pin(async {
        Part::People(deps.graph.batch(ctx.into(), &people_items).await)
    }));
    parts.push(Box::pin(async {
        Part::Mail(deps.graph.batch(ctx.into(), &mail_items).await)
    }));
    parts.push(Box::pin(async {
        Part::Files(
            deps.graph
                .list::<Value>(ctx.into(), &files_req, 50)
                .await
                .map(|p| p.items),
        )
    }));
    let mut files = Vec::new();
    let mut done = 1.0;
    while let Some(part) = parts.next().await {
        if ctx.cancel.is_cancelled() {
            return Err(ToolError::Cancelled);
        }
        done += 1.0;
        let label = match part {
            Part::People(r) => {
                for (i, answer) in answers(r, "people data", gaps)?.into_iter().enumerate() {
                    match answer.into_result() {
                        Ok(v) => attendees[i].profile = first_person(&v),
                        Err(e) => gaps.push(format!(
                            "people data for {}: {}",
                            attendees[i].address,
                            ToolError::from(e)
                        )),
                    }
                }
                "people data"
            }
            Part::Mail(r) => {
                for (i, answer) in answers(r, "recent mail", gaps)?.into_iter().enumerate() {
                    match answer.into_result() {
                        Ok(v) => attendees[i].recent_mail = messages(&v),
                        Err(e) => gaps.push(format!(
                            "recent mail with {}: {}",
                            attendees[i].address,
                            ToolError::from(e)
                        )),
                    }
                }
                "recent mail"
            }
            Part::Files(r) => {
                match r {
                    Ok(items) => files = shared_with(&items, attendees),
                    Err(GraphError::Cancelled) => return Err(ToolError::Cancelled),
                    Err(e) => gaps.push(format!("shared files: {}", ToolError::from(e))),
                }
                "shared files"
            }
        };
        ctx.report_progress(done, Some(TOTAL_STEPS), &format!("{label} ready"))
            .await;
    }
    Ok(files)
}

/// The first person of a people search answer.
fn first_person(answer: &Value) -> Option<RelevantPerson> {
    answer
        .get("value")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|p| serde_json::from_value::<GPerson>(p.clone()).ok())
        .map(RelevantPerson::from)
}

/// The messages of a message search answer.
fn messages(answer: &Value) -> Vec<MessageSummary> {
    answer
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| serde_json::from_value::<GMessage>(m.clone()).ok())
        .map(MessageSummary::from)
        .collect()
}

/// The answers of a batch, or a gap when the whole batch failed (cancellation propagates).
fn answers(
    r: Result<Vec<BatchResponse>, GraphError>,
    what: &str,
    gaps: &mut Vec<String>,
) -> Result<Vec<BatchResponse>, ToolError> {
    match r {
        Ok(a) => Ok(a),
        Err(GraphError::Cancelled) => Err(ToolError::Cancelled),
        Err(e) => {
            gaps.push(format!("{what}: {}", ToolError::from(e)));
            Ok(Vec::new())
        }
    }
}

/// Shared-insight items that an attendee shared with the user, newest first. (Graph's shared
/// insight does not say whom the user's own shares went to, so those are left out.)
fn shared_with(items: &[Value], attendees: &[AttendeeBrief]) -> Vec<SharedFile> {
    items
        .iter()
        .filter_map(|it| {
            let by = it
                .pointer("/lastShared/sharedBy/address")
                .and_then(Value::as_str)?
                .to_lowercase();
            let relevant = attendees.iter().any(|a| a.address == by);
            relevant.then(|| SharedFile {
                title: it
                    .pointer("/resourceVisualization/title")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                web_url: it
                    .pointer("/resourceReference/webUrl")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                shared_by: it
                    .pointer("/lastShared/sharedBy/displayName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or(by),
                shared_at: it
                    .pointer("/lastShared/sharedDateTime")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                kind: it
                    .pointer("/resourceVisualization/type")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        })
        .collect()
}
