//! The user's triage signals from Graph (profile, manager, people, sent items), kept in the
//! per-user cache and fetched in one `$batch` when several are missing.

use std::{collections::HashMap, sync::Arc};

use serde_json::Value;

use super::Signals;
use crate::{
    graph::{BatchItem, CacheKind, Endpoint, GraphError, GraphRequest, odata::Query},
    tools::{
        ToolContext, ToolError,
        m365::{M365Deps, directory::PEOPLE, mail::MESSAGES_OF_FOLDER},
    },
};

const ME: Endpoint = Endpoint::new("/me");
const MANAGER: Endpoint = Endpoint::new("/me/manager");

fn lower(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}

impl Signals {
    /// Signals from the cached Graph answers (`/me`, `/me/manager`, `/me/people`, sent items).
    pub fn from_graph(profile: &Value, manager: &Value, people: &Value, sent: &Value) -> Self {
        let mut s = Signals::default();
        for k in ["mail", "userPrincipalName"] {
            if let Some(a) = lower(profile.get(k))
                && !s.my_addresses.contains(&a)
            {
                s.my_addresses.push(a);
            }
        }
        for k in ["givenName", "displayName"] {
            if let Some(n) = lower(profile.get(k)) {
                s.my_names.push(n);
            }
        }
        s.manager = lower(manager.get("mail")).or_else(|| lower(manager.get("userPrincipalName")));
        for p in people
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(a) = lower(p.pointer("/scoredEmailAddresses/0/address")) {
                s.relevant_people.insert(a);
            }
        }
        for m in sent.get("value").and_then(Value::as_array).into_iter().flatten() {
            for k in ["toRecipients", "ccRecipients"] {
                for r in m.get(k).and_then(Value::as_array).into_iter().flatten() {
                    if let Some(a) = lower(r.pointer("/emailAddress/address")) {
                        *s.sent_to.entry(a).or_default() += 1;
                    }
                }
            }
            if let Some(c) = m.get("conversationId").and_then(Value::as_str) {
                s.replied_conversations.insert(c.to_string());
            }
        }
        s
    }
}

fn signal_request(kind: CacheKind) -> Result<GraphRequest, GraphError> {
    Ok(match kind {
        CacheKind::Profile => GraphRequest::get(ME, &[])?.query(Query::new().select(&[
            "id",
            "displayName",
            "givenName",
            "mail",
            "userPrincipalName",
        ])),
        CacheKind::Manager => GraphRequest::get(MANAGER, &[])?.query(Query::new().select(&[
            "id",
            "displayName",
            "mail",
            "userPrincipalName",
        ])),
        CacheKind::People => GraphRequest::get(PEOPLE, &[])?.query(
            Query::new()
                .select(&["displayName", "scoredEmailAddresses"])
                .top(25),
        ),
        CacheKind::SentItems => GraphRequest::get(MESSAGES_OF_FOLDER, &["sentitems"])?.query(
            Query::new()
                .select(&["toRecipients", "ccRecipients", "conversationId"])
                .top(100),
        ),
    })
}

/// The user's cached answers of `kinds`, fetching the misses in one `$batch` (or one request).
/// A user without a manager gets `null` for [`CacheKind::Manager`].
pub(crate) async fn cached(
    deps: &M365Deps,
    ctx: &ToolContext,
    kinds: &[CacheKind],
) -> Result<HashMap<CacheKind, Arc<Value>>, ToolError> {
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for &k in kinds {
        match deps.cache.get(&ctx.caller, k).await {
            Some(v) => {
                out.insert(k, v);
            }
            None => missing.push(k),
        }
    }
    let results: Vec<(CacheKind, Result<Value, GraphError>)> = match missing.as_slice() {
        [] => Vec::new(),
        [k] => vec![(*k, deps.graph.send(ctx.into(), &signal_request(*k)?).await)],
        many => {
            let items = many
                .iter()
                .map(|k| {
                    Ok(BatchItem {
                        id: k.label().to_string(),
                        request: signal_request(*k)?,
                    })
                })
                .collect::<Result<Vec<_>, GraphError>>()?;
            let answers = deps.graph.batch(ctx.into(), &items).await?;
            many.iter()
                .copied()
                .zip(answers.into_iter().map(|a| a.into_result()))
                .collect()
        }
    };
    for (k, r) in results {
        let v = match (k, r) {
            (CacheKind::Manager, Err(GraphError::Api { status: 404, .. })) => Value::Null,
            (_, Ok(v)) => v,
            (_, Err(e)) => return Err(e.into()),
        };
        out.insert(k, deps.cache.insert(&ctx.caller, k, v).await);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_read_from_graph_shapes() {
        let profile = serde_json::json!({"mail": "Me@Contoso.example", "givenName": "Adele", "displayName": "Adele Vance"});
        let manager = serde_json::json!({"mail": "Boss@contoso.example"});
        let people =
            serde_json::json!({"value": [{"scoredEmailAddresses": [{"address": "Megan@contoso.example"}]}]});
        let sent = serde_json::json!({"value": [
            {"toRecipients": [{"emailAddress": {"address": "alex@contoso.example"}}], "conversationId": "c1"},
            {"toRecipients": [{"emailAddress": {"address": "ALEX@contoso.example"}}], "ccRecipients": [], "conversationId": "c2"}
        ]});
        let s = Signals::from_graph(&profile, &manager, &people, &sent);
        assert_eq!(s.my_addresses, vec!["me@contoso.example"]);
        assert_eq!(s.manager.as_deref(), Some("boss@contoso.example"));
        assert_eq!(s.sent_to.get("alex@contoso.example"), Some(&2));
        assert!(s.relevant_people.contains("megan@contoso.example"));
        assert_eq!(s.replied_conversations.len(), 2);
        let none = Signals::from_graph(&profile, &Value::Null, &Value::Null, &Value::Null);
        assert_eq!(none.manager, None);
    }
}
