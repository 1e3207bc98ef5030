//! Every Microsoft 365 tool against the Graph double: the exact Graph requests made, results,
//! failures (throttling, outages, 401, malformed JSON, paging bounds, foreign links, injection
//! attempts, an empty mailbox), the per-user cache, metrics, and the on-behalf-of exchange
//! against a local token endpoint.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use jiff::Timestamp;
use mcp_graph_double::{Fault, FaultRule, GraphDouble, RecordedRequest, Seed};
use mcp_tenancy_config::catalog::TOOL_CATALOG;
use mcp_tenant_server::{
    caller::{Caller, Secret},
    graph::{
        AccessToken, DEV_GRAPH_TOKEN, GraphClient, GraphClientConfig, GraphMetrics, GraphTokenProvider,
        OboSettings, OboTokenProvider, RetryPolicy, TokenError, UserCache,
    },
    tools::{
        ProgressSink, Tool, ToolContext, ToolError, ToolResult,
        m365::{M365Deps, SignIns, ToolPolicy, m365_tools},
    },
};
use prometheus::Registry;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

const REQUEST_ID: &str = "6f9619ff-8b86-d011-b42d-00c04fc964ff";

/// Hands out the double's token and counts calls (to see refreshes).
#[derive(Default)]
struct CountingProvider {
    tokens: AtomicUsize,
    invalidations: AtomicUsize,
}

#[async_trait]
impl GraphTokenProvider for CountingProvider {
    async fn token(&self, _caller: &Caller) -> Result<AccessToken, TokenError> {
        self.tokens.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken {
            secret: Secret::new(DEV_GRAPH_TOKEN),
            expires_at: Instant::now() + Duration::from_secs(3600),
        })
    }

    async fn invalidate(&self, _caller: &Caller) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }
}

struct Env {
    double: GraphDouble,
    addr: SocketAddr,
    tools: HashMap<&'static str, Arc<dyn Tool>>,
    registry: Registry,
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        max_total_wait: Duration::from_secs(3),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

async fn env_with(provider: Arc<dyn GraphTokenProvider>, max_pages: u32, seed: Seed) -> Env {
    env_with_deps(provider, max_pages, seed, |d| d).await
}

/// An env whose tools' deps `customize` narrows (a policy, sign-ins).
async fn env_with_deps(
    provider: Arc<dyn GraphTokenProvider>,
    max_pages: u32,
    seed: Seed,
    customize: impl FnOnce(M365Deps) -> M365Deps,
) -> Env {
    let double = GraphDouble::new(&seed);
    let (addr, _) = double.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let registry = Registry::new();
    let config = GraphClientConfig {
        base_url: format!("http://{addr}").parse().unwrap(),
        api_version: "v1.0".into(),
        request_timeout: Duration::from_secs(10),
        retry: retry(),
        max_pages,
    };
    let graph = GraphClient::new(config, provider, GraphMetrics::register(&registry).unwrap()).unwrap();
    let cache = UserCache::new(Duration::from_secs(60), 1000, &registry).unwrap();
    let deps = customize(M365Deps::from_parts(Arc::new(graph), Arc::new(cache)));
    let tools = m365_tools(deps)
        .into_iter()
        .map(|t| (t.definition().name, t))
        .collect();
    Env {
        double,
        addr,
        tools,
        registry,
    }
}

async fn env() -> (Env, Arc<CountingProvider>) {
    let p = Arc::new(CountingProvider::default());
    (env_with(p.clone(), 10, Seed::default()).await, p)
}

fn caller(oid: &str) -> Caller {
    Caller {
        subject: format!("sub-{oid}"),
        object_id: Some(oid.into()),
        tenant_id: Some("tid".into()),
        name: None,
        client_id: Some("client".into()),
        roles: vec![],
        mfa: false,
        service_account: None,
        tiers: vec![],
        assertion: Some(Secret::new("incoming-client-token-must-not-reach-graph")),
        grant_id: None,
    }
}

#[derive(Default)]
struct Progress(Mutex<Vec<(f64, Option<f64>, String)>>);

#[async_trait]
impl ProgressSink for Progress {
    async fn report(&self, progress: f64, total: Option<f64>, message: &str) {
        self.0
            .lock()
            .unwrap()
            .push((progress, total, message.to_string()));
    }
}

fn ctx_for(caller: Caller) -> ToolContext {
    ToolContext {
        caller: Arc::new(caller),
        request_id: REQUEST_ID.into(),
        cancel: CancellationToken::new(),
        progress: None,
    }
}

impl Env {
    async fn call_as(&self, ctx: &ToolContext, name: &str, args: Value) -> ToolResult {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        self.tools[name].call(ctx, args).await
    }

    async fn call(&self, name: &str, args: Value) -> ToolResult {
        self.call_as(&ctx_for(caller("user-a")), name, args).await
    }

    async fn ok(&self, name: &str, args: Value) -> Value {
        match self.call(name, args).await {
            Ok(o) => o.structured,
            Err(e) => panic!("{name} failed: {e}"),
        }
    }

    /// Top-level requests (not inside a `$batch`).
    fn top(&self) -> Vec<RecordedRequest> {
        self.double
            .requests()
            .into_iter()
            .filter(|r| !r.in_batch)
            .collect()
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric().to_vec())
            .filter(|m| {
                labels
                    .iter()
                    .all(|(k, v)| m.get_label().iter().any(|l| l.name() == *k && l.value() == *v))
            })
            .map(|m| {
                if name.ends_with("_seconds") {
                    m.get_histogram().get_sample_count() as f64
                } else {
                    m.get_counter().get_value()
                }
            })
            .sum()
    }
}

fn upstream_code(e: &ToolError) -> &str {
    match e {
        ToolError::Upstream { code, .. } => code,
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- registration

#[tokio::test]
async fn registers_exactly_the_non_core_catalog_with_schemas_and_annotations() {
    let (env, _) = env().await;
    let mut names: Vec<&str> = env.tools.keys().copied().collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = TOOL_CATALOG
        .iter()
        .filter(|t| t.group.is_m365())
        .map(|t| t.name)
        .collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
    for entry in TOOL_CATALOG.iter().filter(|t| t.group.is_m365()) {
        let d = env.tools[entry.name].definition();
        let a = &d.annotations;
        assert_eq!(a.read_only_hint, Some(!entry.writes), "{}", d.name);
        assert_eq!(a.destructive_hint, Some(entry.writes), "{}", d.name);
        assert_eq!(a.open_world_hint, Some(true));
        assert_eq!(d.input_schema["type"], "object", "{}", d.name);
        assert_eq!(d.input_schema["additionalProperties"], false, "{}", d.name);
        assert_eq!(d.output_schema["type"], "object", "{}", d.name);
        assert!(!d.description.is_empty() && d.description.len() < 600);
    }
    let count = &env.tools["mail_list_messages"].definition().input_schema["properties"]["count"];
    assert_eq!(count["maximum"], 50);
}

// ---------------------------------------------------------------- mail

#[tokio::test]
async fn mail_list_messages_sends_the_exact_query_with_the_delegated_token() {
    let (env, _) = env().await;
    let out = env
        .ok("mail_list_messages", json!({"unread_only": true, "count": 5}))
        .await;
    let msgs = out["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 5);
    assert!(msgs.iter().all(|m| m["is_read"] == false));
    assert_eq!(out["more"], true);
    let reqs = env.top();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/me/mailFolders/inbox/messages")
    );
    assert_eq!(
        r.params,
        vec![
            (
                "$select".into(),
                "id,subject,from,receivedDateTime,isRead,importance,hasAttachments,bodyPreview,webLink"
                    .into()
            ),
            ("$top".into(), "5".into()),
            ("$orderby".into(), "receivedDateTime desc".into()),
            (
                "$filter".into(),
                "receivedDateTime ge 1970-01-01T00:00:00Z and isRead eq false".into()
            ),
        ]
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {DEV_GRAPH_TOKEN}").as_str())
    );
    assert_eq!(r.header("client-request-id"), Some(REQUEST_ID));
    assert!(
        env.metric(
            "graph_requests_total",
            &[("endpoint", "/me/mailFolders/{id}/messages"), ("status", "200")]
        ) >= 1.0
    );
    assert!(
        env.metric(
            "graph_request_duration_seconds",
            &[("endpoint", "/me/mailFolders/{id}/messages")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn bad_arguments_are_refused_before_any_graph_call() {
    let (env, _) = env().await;
    for (tool, args) in [
        ("mail_list_messages", json!({"count": 51})),
        ("mail_list_messages", json!({"count": 5, "extra": 1})),
        ("mail_list_messages", json!({"since": "yesterday"})),
        (
            "mail_send",
            json!({"to": ["not an address"], "subject": "s", "body": "b"}),
        ),
        ("mail_search", json!({"query": "\"\" :: ()"})),
        (
            "calendar_list_events",
            json!({"start": "2026-01-01T00:00:00Z", "end": "2026-02-15T00:00:00Z"}),
        ),
        ("calendar_list_events", json!({"time_zone": "UTC\"\r\nX-Evil: 1"})),
        ("mail_get_message", json!({"id": ".."})),
        ("inbox_triage", json!({"scan": 501})),
    ] {
        let e = env.call(tool, args.clone()).await.unwrap_err();
        assert!(
            matches!(e, ToolError::InvalidArguments(_)),
            "{tool} {args}: {e:?}"
        );
    }
    assert!(env.double.requests().is_empty());
}

#[tokio::test]
async fn mail_search_keeps_hostile_text_inside_one_kql_string() {
    let (env, _) = env().await;
    let hostile = "budget\" OR from:evil@x.example) $top=999&$select=body";
    let out = env.ok("mail_search", json!({"query": hostile, "count": 3})).await;
    let r = &env.top()[0];
    assert_eq!(r.path, "/me/messages");
    assert_eq!(
        r.param("$search"),
        Some("\"budget or from evil@x.example top 999& select body\"")
    );
    assert_eq!(r.params.iter().filter(|(k, _)| k == "$top").count(), 1);
    assert_eq!(r.param("$top"), Some("3"));
    assert_eq!(r.status, 200);
    assert_eq!(out["messages"].as_array().unwrap().len(), 0);

    env.double.clear_requests();
    let out = env
        .ok(
            "mail_search",
            json!({"query": "design sync", "from": "alex@contoso.example"}),
        )
        .await;
    assert_eq!(
        env.top()[0].param("$search"),
        Some("\"from:alex@contoso.example design sync\"")
    );
    let msgs = out["messages"].as_array().unwrap();
    assert!(!msgs.is_empty());
    assert!(
        msgs.iter()
            .all(|m| m["from"]["address"] == "alex@contoso.example")
    );
    let e = env
        .call("mail_search", json!({"query": "x", "from": "a@b\" OR x"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::InvalidArguments(_)));
}

#[tokio::test]
async fn mail_get_message_converts_html_safely_and_lists_attachments() {
    let (env, _) = env().await;
    let out = env.ok("mail_get_message", json!({"id": "msg-0000"})).await;
    let body = out["body"].as_str().unwrap();
    assert!(body.contains("notes on Q3 budget review"), "{body}");
    for bad in ["alert", "color:red", "<p>", "<script"] {
        assert!(!body.contains(bad), "{bad} in {body}");
    }
    assert_eq!(
        out["attachments"],
        json!([{"id": "att-0", "name": "report-0.pdf", "size_bytes": 20480, "content_type": "application/pdf"}])
    );
    let r = &env.top()[0];
    assert_eq!(r.path, "/me/messages/msg-0000");
    assert_eq!(
        r.param("$expand"),
        Some("attachments($select=id,name,size,contentType,isInline)")
    );
    let e = env
        .call("mail_get_message", json!({"id": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(upstream_code(&e), "ErrorItemNotFound");
}

#[tokio::test]
async fn mail_send_reply_and_draft_post_the_expected_bodies() {
    let (env, _) = env().await;
    let out = env
        .ok(
            "mail_send",
            json!({"to": ["alex@contoso.example"], "cc": ["megan@contoso.example"], "subject": "Hi", "body": "<b>x</b>", "body_format": "html", "importance": "high"}),
        )
        .await;
    assert_eq!(out, json!({"sent": true, "recipients": 2}));
    let r = &env.top()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/me/sendMail"));
    assert_eq!(
        r.body.as_ref().unwrap(),
        &json!({"message": {
            "subject": "Hi", "body": {"contentType": "html", "content": "<b>x</b>"},
            "toRecipients": [{"emailAddress": {"address": "alex@contoso.example"}}],
            "ccRecipients": [{"emailAddress": {"address": "megan@contoso.example"}}],
            "bccRecipients": [], "importance": "high"}, "saveToSentItems": true})
    );
    assert_eq!(r.status, 202);

    env.double.clear_requests();
    env.ok(
        "mail_reply",
        json!({"id": "msg-0001", "comment": "Thanks", "reply_all": true}),
    )
    .await;
    let r = &env.top()[0];
    assert_eq!(
        (r.path.as_str(), r.body.clone().unwrap()),
        ("/me/messages/msg-0001/replyAll", json!({"comment": "Thanks"}))
    );

    env.double.clear_requests();
    let out = env
        .ok("mail_create_draft", json!({"subject": "Draft", "body": "later"}))
        .await;
    assert!(out["id"].as_str().unwrap().starts_with("draft-"));
    assert_eq!(env.top()[0].path, "/me/messages");
    // The seeded draft, and this one.
    let drafts = env.double.data().drafts;
    assert_eq!(drafts.len(), 2);
    assert_eq!(drafts[1]["id"], out["id"]);
}

#[tokio::test]
async fn an_empty_mailbox_is_an_empty_answer() {
    let (env, _) = env().await;
    env.double.with_data(|d| {
        d.inbox.clear();
        d.sent.clear();
    });
    let out = env.ok("mail_list_messages", json!({})).await;
    assert_eq!(out, json!({"messages": [], "more": false}));
    let out = env.ok("inbox_triage", json!({})).await;
    assert_eq!(out, json!({"analysed": 0, "more_unread": false, "messages": []}));
}

// ---------------------------------------------------------------- calendar

#[tokio::test]
async fn calendar_list_events_asks_for_the_time_zone_and_window() {
    let (env, _) = env().await;
    let out = env
        .ok(
            "calendar_list_events",
            json!({"time_zone": "Europe/Berlin", "count": 3}),
        )
        .await;
    let events = out["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["subject"], "Quarterly planning");
    assert!(events.iter().all(|e| e["time_zone"] == "Europe/Berlin"));
    assert!(events[0]["attendees"].as_array().unwrap().len() == 3);
    let r = &env.top()[0];
    assert_eq!(r.path, "/me/calendarView");
    assert_eq!(r.header("prefer"), Some("outlook.timezone=\"Europe/Berlin\""));
    let (start, end) = (r.param("startDateTime").unwrap(), r.param("endDateTime").unwrap());
    let (s, e): (jiff::Timestamp, jiff::Timestamp) = (start.parse().unwrap(), end.parse().unwrap());
    assert_eq!(e.duration_since(s), jiff::SignedDuration::from_hours(24 * 7));
    assert_eq!(r.param("$orderby"), Some("start/dateTime"));
}

#[tokio::test]
async fn calendar_create_event_and_find_meeting_times() {
    let (env, _) = env().await;
    let out = env
        .ok(
            "calendar_create_event",
            json!({"subject": "Review", "start": "2030-05-04T09:30:00", "end": "2030-05-04T10:00:00",
                   "time_zone": "Europe/Berlin", "attendees": ["alex@contoso.example"], "location": "Room 1", "online_meeting": true}),
        )
        .await;
    assert!(
        out["online_meeting_url"]
            .as_str()
            .unwrap()
            .starts_with("https://teams.example/")
    );
    let r = &env.top()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/me/events"));
    assert_eq!(
        r.body.as_ref().unwrap(),
        &json!({"subject": "Review",
            "start": {"dateTime": "2030-05-04T09:30:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2030-05-04T10:00:00", "timeZone": "Europe/Berlin"},
            "attendees": [{"emailAddress": {"address": "alex@contoso.example"}, "type": "required"}],
            "isOnlineMeeting": true, "onlineMeetingProvider": "teamsForBusiness", "location": {"displayName": "Room 1"}})
    );
    let e = env
        .call(
            "calendar_create_event",
            json!({"subject": "x", "start": "2030-05-04T10:00:00", "end": "2030-05-04T09:00:00"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::InvalidArguments(_)));

    env.double.clear_requests();
    let out = env
        .ok(
            "calendar_find_meeting_times",
            json!({"attendees": ["alex@contoso.example"], "duration_minutes": 60,
                   "start": "2030-05-06T09:00:00Z", "end": "2030-05-06T17:00:00Z", "max_candidates": 3}),
        )
        .await;
    let s = out["suggestions"].as_array().unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s[0]["attendees"][0]["address"], "alex@contoso.example");
    let r = &env.top()[0];
    assert_eq!(r.path, "/me/findMeetingTimes");
    let body = r.body.as_ref().unwrap();
    assert_eq!(body["meetingDuration"], "PT1H0M");
    assert_eq!(
        body["timeConstraint"]["timeSlots"][0]["start"],
        json!({"dateTime": "2030-05-06T09:00:00", "timeZone": "UTC"})
    );
}

// ---------------------------------------------------------------- Teams, people, files

#[tokio::test]
async fn teams_tools_read_and_post() {
    let (env, _) = env().await;
    let out = env.ok("teams_list_teams", json!({})).await;
    assert_eq!(out["teams"].as_array().unwrap().len(), 2);
    let out = env
        .ok("teams_list_channels", json!({"team_id": "team-mark-8b0e"}))
        .await;
    let chans = out["channels"].as_array().unwrap();
    assert_eq!(chans.len(), 2);
    let channel = chans[1]["id"].as_str().unwrap();
    env.double.clear_requests();
    let out = env
        .ok(
            "teams_send_channel_message",
            json!({"team_id": "team-mark-8b0e", "channel_id": channel, "message": "Ship it"}),
        )
        .await;
    assert!(out["id"].as_str().unwrap().starts_with("chatmsg-"));
    let r = &env.top()[0];
    // The channel id's ':' and '@' are percent-encoded in the path.
    assert_eq!(
        r.path,
        "/teams/team-mark-8b0e/channels/19:campaigns@thread.tacv2/messages"
    );
    assert_eq!(
        r.body.clone().unwrap(),
        json!({"body": {"contentType": "text", "content": "Ship it"}})
    );
    let out = env
        .ok(
            "teams_create_online_meeting",
            json!({"subject": "Standup", "start": "2030-05-04T09:00:00Z", "end": "2030-05-04T09:15:00Z"}),
        )
        .await;
    assert!(
        out["join_url"]
            .as_str()
            .unwrap()
            .starts_with("https://teams.example/")
    );
    let e = env
        .call("teams_list_channels", json!({"team_id": "missing"}))
        .await
        .unwrap_err();
    assert_eq!(upstream_code(&e), "ErrorItemNotFound");
}

#[tokio::test]
async fn contacts_search_escapes_odata_literals() {
    let (env, _) = env().await;
    let out = env.ok("contacts_search", json!({"query": "meg"})).await;
    assert_eq!(out["contacts"][0]["name"], "Megan Bowen");
    assert_eq!(
        env.top()[0].param("$filter"),
        Some(
            "startswith(displayName,'meg') or startswith(givenName,'meg') or startswith(surname,'meg') or emailAddresses/any(a:startswith(a/address,'meg'))"
        )
    );
    env.double.clear_requests();
    let hostile = "x') or startswith(displayName,'";
    let out = env.ok("contacts_search", json!({"query": hostile})).await;
    // The double parses the filter strictly: the whole text stayed one literal, matching nobody.
    assert_eq!(out["contacts"], json!([]));
    let r = &env.top()[0];
    assert_eq!(r.status, 200);
    assert!(
        r.param("$filter")
            .unwrap()
            .starts_with("startswith(displayName,'x'') or startswith(displayName,''')")
    );
}

#[tokio::test]
async fn people_and_files_search() {
    let (env, _) = env().await;
    let out = env.ok("people_search", json!({"query": "alex"})).await;
    assert_eq!(out["people"][0]["address"], "alex@contoso.example");
    assert_eq!(env.top()[0].param("$search"), Some("\"alex\""));
    env.double.clear_requests();
    let out = env
        .ok(
            "files_search",
            json!({"query": "budget \"OR\" author:x", "count": 2}),
        )
        .await;
    let files = out["files"].as_array().unwrap();
    assert!(files.len() <= 2);
    let r = &env.top()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/search/query"));
    assert_eq!(
        r.body.clone().unwrap(),
        json!({"requests": [{"entityTypes": ["driveItem"], "query": {"queryString": "budget or author x"}, "from": 0, "size": 2}]})
    );
    env.double.clear_requests();
    let out = env.ok("files_search", json!({"query": "budget"})).await;
    let files = out["files"].as_array().unwrap();
    assert!(
        !files.is_empty()
            && files
                .iter()
                .all(|f| f["name"].as_str().unwrap().contains("Budget"))
    );
}

// ---------------------------------------------------------------- combined tools

#[tokio::test]
async fn meeting_brief_batches_lookups_and_reports_progress() {
    let (env, _) = env().await;
    let progress = Arc::new(Progress::default());
    let mut ctx = ctx_for(caller("user-a"));
    ctx.progress = Some(progress.clone());
    let out = env
        .call_as(&ctx, "meeting_brief", json!({}))
        .await
        .unwrap()
        .structured;
    assert_eq!(out["meeting"]["subject"], "Quarterly planning");
    let attendees = out["attendees"].as_array().unwrap();
    assert_eq!(attendees.len(), 3, "{attendees:?}");
    assert!(attendees.iter().any(|a| a["profile"]["job_title"].is_string()));
    assert!(
        attendees
            .iter()
            .all(|a| !a["recent_mail"].as_array().unwrap().is_empty())
    );
    let files = out["files"].as_array().unwrap();
    assert!(!files.is_empty());
    // Only files the attendees shared (the seed also has files shared by others and by the user).
    assert!(
        files
            .iter()
            .all(|f| ["Miriam Graham", "Megan Bowen", "Nestor Wilke"]
                .contains(&f["shared_by"].as_str().unwrap())),
        "{files:?}"
    );
    assert_eq!(out["gaps"], json!([]));

    let top: Vec<(String, String)> = env
        .top()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(top.len(), 5, "{top:?}");
    for want in ["/me", "/me/calendarView", "/$batch", "/me/insights/shared"] {
        assert!(top.iter().any(|(_, p)| p == want), "{want} in {top:?}");
    }
    let inner: Vec<RecordedRequest> = env.double.requests().into_iter().filter(|r| r.in_batch).collect();
    assert_eq!(inner.len(), 6);
    assert!(
        inner
            .iter()
            .any(|r| r.param("$search") == Some("\"participants:megan@contoso.example\""))
    );
    let reports = progress.0.lock().unwrap().clone();
    assert_eq!(reports.len(), 4, "{reports:?}");
    assert_eq!(reports.last().unwrap().0, 4.0);
    assert!(reports.iter().all(|r| r.1 == Some(4.0)));

    // A given event id; and a cancelled call stops.
    let out = env.ok("meeting_brief", json!({"event_id": "event-001"})).await;
    assert_eq!(out["meeting"]["id"], "event-001");
    let ctx = ctx_for(caller("user-a"));
    ctx.cancel.cancel();
    let e = env.call_as(&ctx, "meeting_brief", json!({})).await.unwrap_err();
    assert!(matches!(e, ToolError::Cancelled), "{e:?}");
}

#[tokio::test]
async fn meeting_brief_reports_gaps_instead_of_failing() {
    let (env, _) = env().await;
    env.double
        .push_fault(FaultRule::on(Fault::ServerError, "/me/people", 3));
    let out = env.ok("meeting_brief", json!({})).await;
    let gaps = out["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    assert!(gaps[0].as_str().unwrap().contains("generalException"));
    assert!(
        out["attendees"][0]["recent_mail"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn inbox_triage_ranks_500_unread_with_cached_signals() {
    let (env, _) = env().await;
    let out = env.ok("inbox_triage", json!({"scan": 500, "count": 5})).await;
    assert_eq!(out["analysed"], 500);
    assert_eq!(out["more_unread"], true);
    let msgs = out["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 5);
    let scores: Vec<i64> = msgs.iter().map(|m| m["score"].as_i64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(
        msgs[0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("manager")),
        "{msgs:?}"
    );
    let top: Vec<String> = env.top().iter().map(|r| r.path.clone()).collect();
    // Signals in one $batch, unread mail in two pages of 250.
    assert_eq!(top.iter().filter(|p| *p == "/$batch").count(), 1, "{top:?}");
    assert_eq!(
        top.iter()
            .filter(|p| *p == "/me/mailFolders/inbox/messages")
            .count(),
        2,
        "{top:?}"
    );
    let inner: Vec<String> = env
        .double
        .requests()
        .iter()
        .filter(|r| r.in_batch)
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        inner,
        vec![
            "/me",
            "/me/manager",
            "/me/people",
            "/me/mailFolders/sentitems/messages"
        ]
    );

    // Same user again: signals come from the cache. Another user: fetched for them.
    env.double.clear_requests();
    let again = env.ok("inbox_triage", json!({"scan": 500, "count": 5})).await;
    assert_eq!(again, out, "deterministic");
    assert!(
        env.top()
            .iter()
            .all(|r| r.path == "/me/mailFolders/inbox/messages")
    );
    assert!(
        env.metric(
            "graph_cache_lookups_total",
            &[("kind", "manager"), ("result", "hit")]
        ) >= 1.0
    );
    env.double.clear_requests();
    env.call_as(&ctx_for(caller("user-b")), "inbox_triage", json!({}))
        .await
        .unwrap();
    assert_eq!(env.top().iter().filter(|r| r.path == "/$batch").count(), 1);
}

// ---------------------------------------------------------------- failures

#[tokio::test]
async fn throttling_honours_retry_after() {
    let (env, _) = env().await;
    env.double.push_fault(FaultRule::on(
        Fault::Throttle { retry_after_secs: 1 },
        "/mailFolders",
        1,
    ));
    let started = Instant::now();
    env.ok("mail_list_messages", json!({})).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    let statuses: Vec<u16> = env.top().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 200]);
    assert_eq!(env.metric("graph_requests_total", &[("status", "429")]), 1.0);
}

#[tokio::test]
async fn throttling_beyond_the_budget_fails_at_once_with_the_wait() {
    let (env, _) = env().await;
    env.double.push_fault(FaultRule::once(Fault::Throttle {
        retry_after_secs: 120,
    }));
    let started = Instant::now();
    let e = env.call("mail_list_messages", json!({})).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(upstream_code(&e), "throttled");
    assert!(e.to_string().contains("try again in 120 seconds"), "{e}");
    assert_eq!(env.top().len(), 1);
}

#[tokio::test]
async fn outages_are_retried_a_bounded_number_of_times() {
    let (env, _) = env().await;
    env.double.push_fault(FaultRule::on(
        Fault::Unavailable {
            retry_after_secs: None,
        },
        "/joinedTeams",
        4,
    ));
    let e = env.call("teams_list_teams", json!({})).await.unwrap_err();
    assert_eq!(upstream_code(&e), "unavailable");
    assert_eq!(env.top().len(), 4);
    // A 504 on a POST is not repeated (it may have been processed).
    env.double.clear_requests();
    env.double
        .push_fault(FaultRule::on(Fault::GatewayTimeout, "/sendMail", 5));
    let e = env
        .call(
            "mail_send",
            json!({"to": ["alex@contoso.example"], "subject": "s", "body": "b"}),
        )
        .await
        .unwrap_err();
    assert_eq!(upstream_code(&e), "unavailable");
    assert_eq!(env.top().iter().filter(|r| r.path == "/me/sendMail").count(), 1);
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let (env, provider) = env().await;
    env.double.push_fault(FaultRule::once(Fault::ExpiredToken));
    env.ok("teams_list_teams", json!({})).await;
    assert_eq!(provider.invalidations.load(Ordering::SeqCst), 1);
    assert_eq!(provider.tokens.load(Ordering::SeqCst), 2);
    let statuses: Vec<u16> = env.top().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![401, 200]);

    env.double
        .push_fault(FaultRule::on(Fault::ExpiredToken, "/me", 10));
    let e = env.call("teams_list_teams", json!({})).await.unwrap_err();
    assert!(matches!(e, ToolError::SignInRequired(_)), "{e:?}");
    assert_eq!(provider.invalidations.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn malformed_json_and_server_errors_become_clear_tool_errors() {
    let (env, _) = env().await;
    env.double.push_fault(FaultRule::once(Fault::MalformedJson));
    let e = env.call("mail_list_messages", json!({})).await.unwrap_err();
    assert_eq!(upstream_code(&e), "malformedResponse");
    env.double.push_fault(FaultRule::once(Fault::ServerError));
    let e = env
        .call("people_search", json!({"query": "alex"}))
        .await
        .unwrap_err();
    assert_eq!(upstream_code(&e), "generalException");
    assert!(e.to_string().contains("graph error generalException"), "{e}");
}

#[tokio::test]
async fn paging_stops_at_the_page_bound() {
    let p = Arc::new(CountingProvider::default());
    let env = env_with(p, 1, Seed::default()).await;
    let out = env.ok("inbox_triage", json!({"scan": 500})).await;
    assert_eq!(out["analysed"], 250);
    assert_eq!(out["more_unread"], true);
    assert_eq!(
        env.top()
            .iter()
            .filter(|r| r.path == "/me/mailFolders/inbox/messages")
            .count(),
        1
    );
}

#[tokio::test]
async fn paging_links_to_other_hosts_are_never_followed() {
    let (env, _) = env().await;
    for link in [
        "http://evil.example/v1.0/me/messages?$skip=250".to_string(),
        format!("http://{}:1/v1.0/me/messages", env.addr.ip()),
        format!("http://{}/beta/me/messages", env.addr),
        format!("http://user@{}/v1.0/me/messages", env.addr),
    ] {
        env.double.push_fault(FaultRule::on(
            Fault::ForeignNextLink(link.clone()),
            "/inbox/messages",
            1,
        ));
        let e = env.call("inbox_triage", json!({"scan": 500})).await.unwrap_err();
        assert_eq!(upstream_code(&e), "untrustedNextLink", "{link}");
    }
}

#[tokio::test]
async fn throttled_batch_items_are_retried() {
    let (env, _) = env().await;
    env.double.push_fault(FaultRule::on(
        Fault::Throttle { retry_after_secs: 1 },
        "/me/manager",
        1,
    ));
    let out = env.ok("inbox_triage", json!({"scan": 10})).await;
    assert_eq!(out["analysed"], 10);
    let batches = env.top().iter().filter(|r| r.path == "/$batch").count();
    assert_eq!(batches, 2);
    let retried = env
        .double
        .requests()
        .into_iter()
        .filter(|r| r.in_batch && r.path == "/me/manager")
        .count();
    assert_eq!(retried, 2);
}

// ---------------------------------------------------------------- on-behalf-of

struct Idp {
    server: MockServer,
}

impl Idp {
    async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(matchers::method("GET"))
            .and(matchers::path("/tenant/v2.0/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": format!("{}/tenant/v2.0", server.uri()),
                "token_endpoint": format!("{}/tenant/oauth2/v2.0/token", server.uri()),
            })))
            .mount(&server)
            .await;
        Self { server }
    }

    fn provider(&self, margin: Duration) -> Arc<OboTokenProvider> {
        Arc::new(
            OboTokenProvider::new(OboSettings {
                issuer: format!("{}/tenant/v2.0", self.server.uri()).parse().unwrap(),
                client_id: "server-app".into(),
                client_secret: Secret::new("server-secret"),
                scopes: vec![
                    "https://graph.microsoft.com/Mail.Read".into(),
                    "offline_access".into(),
                ],
                expiry_margin: margin,
                max_users: 100,
                timeout: Duration::from_secs(5),
                trust: Default::default(),
            })
            .unwrap(),
        )
    }

    fn exchange(&self, assertion: &str) -> wiremock::MockBuilder {
        Mock::given(matchers::method("POST"))
            .and(matchers::path("/tenant/oauth2/v2.0/token"))
            .and(matchers::body_string_contains(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
            ))
            .and(matchers::body_string_contains("requested_token_use=on_behalf_of"))
            .and(matchers::body_string_contains("client_id=server-app"))
            .and(matchers::body_string_contains("client_secret=server-secret"))
            .and(matchers::body_string_contains(format!("assertion={assertion}")))
            .and(matchers::body_string_contains(
                "scope=https%3A%2F%2Fgraph.microsoft.com%2FMail.Read+offline_access",
            ))
    }
}

fn assertion_never_reached_graph(env: &Env) {
    for r in env.double.requests() {
        let all = format!("{} {} {:?} {:?}", r.path, r.raw_query, r.headers, r.body);
        assert!(
            !all.contains("incoming-client-token"),
            "the client token reached Graph: {all}"
        );
    }
}

#[tokio::test]
async fn obo_exchanges_once_per_user_and_never_sends_the_client_token_to_graph() {
    let idp = Idp::start().await;
    idp.exchange("incoming-client-token-must-not-reach-graph")
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token_type": "Bearer", "access_token": "graph-obo-token", "expires_in": 3600}),
        ))
        .expect(2)
        .mount(&idp.server)
        .await;
    let env = env_with(idp.provider(Duration::from_secs(120)), 10, Seed::default()).await;
    env.double.set_tokens(&["graph-obo-token"]);
    // Concurrent calls of one user share one exchange; a second user gets their own.
    let a = ctx_for(caller("user-a"));
    let calls = (0..5).map(|_| env.call_as(&a, "teams_list_teams", json!({})));
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    env.call_as(&a, "teams_list_teams", json!({})).await.unwrap();
    env.call_as(&ctx_for(caller("user-b")), "teams_list_teams", json!({}))
        .await
        .unwrap();
    assert!(
        env.double
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer graph-obo-token"))
    );
    assertion_never_reached_graph(&env);
}

#[tokio::test]
async fn obo_tokens_are_dropped_before_they_expire() {
    let idp = Idp::start().await;
    idp.exchange("incoming-client-token-must-not-reach-graph")
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token_type": "Bearer", "access_token": "graph-obo-token", "expires_in": "61"}),
        ))
        .expect(2)
        .mount(&idp.server)
        .await;
    let env = env_with(idp.provider(Duration::from_secs(60)), 10, Seed::default()).await;
    env.double.set_tokens(&["graph-obo-token"]);
    env.call("teams_list_teams", json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    env.call("teams_list_teams", json!({})).await.unwrap();
}

#[tokio::test]
async fn obo_errors_map_to_sign_in_or_identity_errors_without_secrets() {
    let idp = Idp::start().await;
    idp.exchange("incoming-client-token-must-not-reach-graph")
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "AADSTS50013: Assertion failed signature validation.\r\nTrace ID: abc\r\nCorrelation ID: def",
        })))
        .expect(1)
        .mount(&idp.server)
        .await;
    let env = env_with(idp.provider(Duration::from_secs(60)), 10, Seed::default()).await;
    let e = env.call("teams_list_teams", json!({})).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ToolError::SignInRequired(_)), "{e:?}");
    assert!(
        text.contains("AADSTS50013") && !text.contains("Trace ID"),
        "{text}"
    );
    assert!(!text.contains("incoming-client-token") && !text.contains("server-secret"));
    assert!(env.double.requests().is_empty());

    // A service account has no delegated identity: no exchange is attempted.
    let mut sa = caller("svc");
    sa.service_account = Some("reporter".into());
    let e = env
        .call_as(&ctx_for(sa), "teams_list_teams", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::SignInRequired(_)), "{e:?}");

    // The IdP failing is an identity error, not a sign-in prompt.
    let idp2 = Idp::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .mount(&idp2.server)
        .await;
    let env2 = env_with(idp2.provider(Duration::from_secs(60)), 10, Seed::default()).await;
    match env2.call("teams_list_teams", json!({})).await.unwrap_err() {
        ToolError::Upstream { service, .. } => assert_eq!(service, "identity"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_double_accepts_the_development_token() {
    assert_eq!(mcp_graph_double::DEFAULT_TOKEN, DEV_GRAPH_TOKEN);
}

#[tokio::test]
async fn arguments_are_objects_only() {
    let (env, _) = env().await;
    let e = env.tools["mail_send"]
        .call(&ctx_for(caller("a")), Map::new())
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::InvalidArguments(_)));
}

#[tokio::test]
async fn a_silent_graph_times_out_with_bounded_retries() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let registry = Registry::new();
    let config = GraphClientConfig {
        base_url: format!("http://{addr}").parse().unwrap(),
        api_version: "v1.0".into(),
        request_timeout: Duration::from_millis(200),
        retry: retry(),
        max_pages: 10,
    };
    let provider = Arc::new(CountingProvider::default());
    let graph = GraphClient::new(config, provider, GraphMetrics::register(&registry).unwrap()).unwrap();
    let cache = UserCache::new(Duration::from_secs(60), 10, &registry).unwrap();
    let tools = m365_tools(M365Deps::from_parts(Arc::new(graph), Arc::new(cache)));
    let teams = tools
        .iter()
        .find(|t| t.definition().name == "teams_list_teams")
        .unwrap();
    let started = Instant::now();
    let e = teams.call(&ctx_for(caller("a")), Map::new()).await.unwrap_err();
    assert_eq!(upstream_code(&e), "timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
    // A GET is retried up to the attempt bound; each attempt opened a connection.
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    let timeouts: f64 = registry
        .gather()
        .iter()
        .filter(|f| f.name() == "graph_requests_total")
        .flat_map(|f| f.get_metric().to_vec())
        .filter(|m| m.get_label().iter().any(|l| l.value() == "timeout"))
        .map(|m| m.get_counter().get_value())
        .sum();
    assert_eq!(timeouts, 4.0);
}

#[tokio::test]
async fn files_read_text_reads_text_within_limits_and_refuses_the_rest() {
    let (env, _) = env().await;
    let csv = env.ok("files_read_text", json!({"id": "file-csv"})).await;
    assert_eq!(csv["text"], "team,people\nMarketing,12\nLaunch,7\n");
    let page = env.ok("files_read_text", json!({"id": "file-page"})).await;
    let text = page["text"].as_str().unwrap();
    assert!(text.contains("Launch") && text.contains("Ships May 4."), "{text}");
    assert!(!text.contains("steal") && !text.contains('<'), "{text}");

    let refused = async |id: &str| {
        env.call("files_read_text", json!({ "id": id }))
            .await
            .unwrap_err()
    };
    // Office documents and PDFs read as text: slides in order, sheets as rows, pages as lines.
    let deck = env.ok("files_read_text", json!({"id": "file-deck"})).await;
    assert_eq!(deck["format"], "PowerPoint presentation");
    let text = deck["text"].as_str().unwrap();
    assert!(
        text.find("Roadmap 2026").unwrap() < text.find("Q4: second region").unwrap(),
        "{text}"
    );
    let budget = env.ok("files_read_text", json!({"id": "file-budget"})).await;
    assert_eq!(
        budget["text"],
        "## Summary\nTeam\tBudget\nMarketing\t120000\nLaunch\t80000"
    );
    let report = env.ok("files_read_text", json!({"id": "file-report"})).await;
    assert!(
        report["text"]
            .as_str()
            .unwrap()
            .contains("Spend is 4 % under plan."),
        "{report}"
    );
    // A colleague's file, through its drive.
    let shared = env
        .ok(
            "files_read_text",
            json!({"id": "file-forecast", "drive_id": "b!megan-onedrive"}),
        )
        .await;
    assert_eq!(shared["text"], "Forecast: revenue grows 12 % in Q4.");
    // ... but not as if it were the user's own.
    assert_eq!(
        upstream_code(&refused("file-forecast").await),
        "ErrorItemNotFound"
    );

    // Types no crate reads, named; a damaged package, said so.
    for (id, what) in [("file-legacy", ".xls"), ("file-photo", "image")] {
        let e = refused(id).await;
        assert_eq!(upstream_code(&e), "unsupportedType", "{id}");
        assert!(e.to_string().contains(what), "{id}: {e}");
    }
    let broken = refused("file-broken").await;
    assert_eq!(upstream_code(&broken), "unreadableDocument");
    assert!(
        broken.to_string().contains("Broken.docx") && broken.to_string().contains("ZIP"),
        "{broken}"
    );
    // Larger than 16 MiB by Graph's word: refused from its size, before any download.
    let before = env.double.requests().len();
    assert_eq!(upstream_code(&refused("file-big").await), "tooLarge");
    let after = env.double.requests();
    assert!(after[before..].iter().all(|r| !r.path.starts_with("/_download/")));
    let binary = refused("file-binary").await;
    assert_eq!(upstream_code(&binary), "unreadableDocument");
    assert!(binary.to_string().contains("binary data"), "{binary}");
    assert_eq!(upstream_code(&refused("nope").await), "ErrorItemNotFound");
    assert!(matches!(
        env.call("files_read_text", json!({"id": ".."})).await,
        Err(ToolError::InvalidArguments(_))
    ));
    // A path in an id stays one (encoded) segment of the item's URL: no such item.
    assert_eq!(
        upstream_code(&refused("../../me/messages").await),
        "ErrorItemNotFound"
    );
    assert!(matches!(
        env.call("files_read_text", json!({"id": "file-csv", "path": "/etc"}))
            .await,
        Err(ToolError::InvalidArguments(_))
    ));
}

/// A Graph client whose base is a mock server, for downloads.
async fn download_client() -> (GraphClient, MockServer) {
    let server = MockServer::start().await;
    let config = GraphClientConfig {
        base_url: server.uri().parse().unwrap(),
        api_version: "v1.0".into(),
        request_timeout: Duration::from_secs(5),
        retry: retry(),
        max_pages: 10,
    };
    let provider = Arc::new(CountingProvider::default());
    let graph = GraphClient::new(
        config,
        provider,
        GraphMetrics::register(&Registry::new()).unwrap(),
    )
    .unwrap();
    (graph, server)
}

#[tokio::test]
async fn downloads_go_without_the_token_only_to_trusted_urls_and_stop_at_the_limit() {
    use mcp_tenant_server::graph::{CallContext, GraphError};
    let (graph, server) = download_client().await;
    let caller = caller("user-a");
    let cancel = CancellationToken::new();
    let call = || CallContext {
        caller: &caller,
        request_id: REQUEST_ID,
        cancel: &cancel,
    };
    Mock::given(matchers::path("/dl/small"))
        .respond_with(ResponseTemplate::new(200).set_body_string("hello"))
        .mount(&server)
        .await;
    Mock::given(matchers::path("/dl/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 4096]))
        .mount(&server)
        .await;
    Mock::given(matchers::path("/dl/gone"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let at = |path: &str| format!("{}{path}", server.uri());

    assert_eq!(
        graph.download(call(), &at("/dl/small"), 1024).await.unwrap(),
        b"hello"
    );
    let received = server.received_requests().await.unwrap();
    assert!(
        received[0].headers.get("authorization").is_none(),
        "no token on a download"
    );
    assert!(matches!(
        graph.download(call(), &at("/dl/big"), 1024).await,
        Err(GraphError::TooLarge { limit: 1024 })
    ));
    assert!(matches!(
        graph.download(call(), &at("/dl/gone"), 1024).await,
        Err(GraphError::Api { status: 404, .. })
    ));
    // Neither https nor the Graph origin: not fetched at all.
    let before = server.received_requests().await.unwrap().len();
    for url in ["http://127.0.0.1:1/dl/small", "file:///etc/passwd", "not a url"] {
        assert!(
            matches!(
                graph.download(call(), url, 1024).await,
                Err(GraphError::UntrustedDownload)
            ),
            "{url}"
        );
    }
    assert_eq!(server.received_requests().await.unwrap().len(), before);
    cancel.cancel();
    assert!(matches!(
        graph.download(call(), &at("/dl/small"), 1024).await,
        Err(GraphError::Cancelled)
    ));
}

// ---------------------------------------------------------------- hostile input to the everyday tools

#[tokio::test]
async fn oversized_malformed_and_contradictory_arguments_are_refused_naming_the_field() {
    let (env, _) = env().await;
    let long = |n: usize| "x".repeat(n);
    let categories: Vec<String> = (0..26).map(|i| format!("c{i}")).collect();
    let users: Vec<String> = (0..21).map(|i| format!("u{i}@contoso.example")).collect();
    let future = (Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    for (tool, args, field) in [
        (
            "mail_move_message",
            json!({"id": "msg-0001", "folder": " "}),
            "`folder`",
        ),
        (
            "mail_move_message",
            json!({"id": "msg-0001", "folder": long(513)}),
            "`folder`",
        ),
        (
            "mail_mark_message",
            json!({"id": "msg-0001"}),
            "at least one of `read`",
        ),
        (
            "mail_mark_message",
            json!({"id": "msg-0001", "categories": categories}),
            "`categories`",
        ),
        (
            "mail_mark_message",
            json!({"id": "msg-0001", "categories": ["ok", " "]}),
            "`categories[1]`",
        ),
        (
            "mail_mark_message",
            json!({"id": "msg-0001", "flag": "urgent"}),
            "unknown variant `urgent`",
        ),
        ("mail_forward", json!({"id": "msg-0001", "to": []}), "`to`"),
        (
            "mail_forward",
            json!({"id": "msg-0001", "to": ["not an address"]}),
            "not an address",
        ),
        (
            "calendar_update_event",
            json!({"id": "event-mine"}),
            "at least one of `subject`",
        ),
        (
            "calendar_update_event",
            json!({"id": "event-mine", "start": "2026-06-01T10:00:00"}),
            "together",
        ),
        (
            "calendar_update_event",
            json!({"id": "event-mine", "start": "2026-06-01T10:00:00", "end": "2026-06-01T09:00:00"}),
            "`end` must be after `start`",
        ),
        (
            "calendar_update_event",
            json!({"id": "event-mine", "subject": "s", "time_zone": "UTC\r\nX: 1"}),
            "`time_zone`",
        ),
        (
            "calendar_cancel_event",
            json!({"id": "event-mine", "comment": long(4_001)}),
            "`comment`",
        ),
        (
            "calendar_respond_to_event",
            json!({"id": "event-003", "response": "accept", "proposed_start": "2026-06-01T10:00:00", "proposed_end": "2026-06-01T11:00:00"}),
            "only with `tentative` or `decline`",
        ),
        (
            "calendar_respond_to_event",
            json!({"id": "event-003", "response": "decline", "proposed_start": "2026-06-01T10:00:00"}),
            "together",
        ),
        (
            "teams_send_chat_message",
            json!({"chat_id": "19:x", "message": long(20_001)}),
            "`message`",
        ),
        (
            "teams_send_chat_message",
            json!({"chat_id": "19:x", "message": "  "}),
            "`message` is empty",
        ),
        (
            "teams_reply_to_channel_message",
            json!({"team_id": "t", "channel_id": "c", "message_id": "m", "message": long(20_001)}),
            "`message`",
        ),
        ("teams_get_presence", json!({"users": users}), "`users`"),
        ("teams_get_presence", json!({"users": ["../me"]}), "`users`"),
        ("teams_get_presence", json!({"users": []}), "`users`"),
        ("tasks_create_task", json!({"title": " "}), "`title`"),
        ("tasks_create_task", json!({"title": long(256)}), "`title`"),
        (
            "tasks_create_task",
            json!({"title": "t", "due": "tomorrow"}),
            "`due`",
        ),
        (
            "tasks_create_task",
            json!({"title": "t", "reminder": "9am"}),
            "`reminder`",
        ),
        (
            "tasks_create_task",
            json!({"title": "t", "note": long(10_001)}),
            "`note`",
        ),
        ("tasks_list_tasks", json!({"due_by": "soon"}), "`due_by`"),
        (
            "files_upload_text",
            json!({"name": "run.exe", "content": "x"}),
            "`name`",
        ),
        (
            "files_upload_text",
            json!({"name": "../../x.md", "content": "x"}),
            "`name`",
        ),
        (
            "files_upload_text",
            json!({"name": "a.md", "content": long(1024 * 1024 + 1)}),
            "`content`",
        ),
        ("people_get_profile", json!({"user": "a b/c"}), "`user`"),
        (
            "people_list_direct_reports",
            json!({"user": "x?$select=*"}),
            "`user`",
        ),
        (
            "catch_me_up",
            json!({"since": future}),
            "`since` is in the future",
        ),
        ("catch_me_up", json!({"since": "last week"}), "`since`"),
        ("catch_me_up", json!({"count": 21}), "`count`"),
        ("files_list_recent", json!({"count": 0}), "`count`"),
        ("calendar_list_calendars", json!({"count": 101}), "`count`"),
    ] {
        match env.call(tool, args.clone()).await {
            Err(ToolError::InvalidArguments(m)) => assert!(m.contains(field), "{tool} {args}: {m}"),
            other => panic!("{tool} {args}: {other:?}"),
        }
    }
    assert!(env.double.requests().is_empty(), "{:?}", env.double.requests());
}

/// Ids and names with paths, queries and OData in them stay one percent-encoded path segment:
/// Graph finds no such item, and no request leaves its route.
#[tokio::test]
async fn ids_with_paths_or_odata_stay_inside_their_segment() {
    let (env, _) = env().await;
    let hostile = "../../me/messages?$select=*&x=' or 1 eq 1#";
    for (tool, args) in [
        ("mail_move_message", json!({"id": hostile, "folder": "archive"})),
        ("mail_mark_message", json!({"id": hostile, "read": true})),
        ("mail_delete_message", json!({"id": hostile})),
        (
            "mail_forward",
            json!({"id": hostile, "to": ["megan@contoso.example"]}),
        ),
        ("mail_send_draft", json!({"id": hostile})),
        (
            "mail_read_attachment",
            json!({"message_id": "msg-0012", "attachment_id": hostile}),
        ),
        (
            "mail_read_attachment",
            json!({"message_id": hostile, "attachment_id": "att-12-xlsx"}),
        ),
        ("calendar_update_event", json!({"id": hostile, "subject": "s"})),
        ("calendar_cancel_event", json!({"id": hostile})),
        (
            "calendar_respond_to_event",
            json!({"id": hostile, "response": "accept"}),
        ),
        (
            "teams_send_chat_message",
            json!({"chat_id": hostile, "message": "hi"}),
        ),
        (
            "teams_reply_to_channel_message",
            json!({"team_id": "team-mark-8b0e", "channel_id": "19:campaigns@thread.tacv2", "message_id": hostile, "message": "hi"}),
        ),
        ("tasks_list_tasks", json!({"list_id": hostile})),
        (
            "tasks_complete_task",
            json!({"list_id": "list-default", "task_id": hostile}),
        ),
        ("tasks_create_task", json!({"list_id": hostile, "title": "t"})),
        ("files_read_text", json!({"id": "file-plan", "drive_id": hostile})),
        (
            "files_upload_text",
            json!({"name": "a.md", "content": "x", "folder_id": hostile}),
        ),
    ] {
        env.double.clear_requests();
        let e = env.call(tool, args.clone()).await.unwrap_err();
        let code = upstream_code(&e);
        assert!(
            code == "ErrorItemNotFound" || code == "itemNotFound",
            "{tool} {args}: {e}"
        );
        for r in env.double.requests() {
            assert!(
                !r.path.contains("/../") && !r.path.contains('?'),
                "{tool}: {}",
                r.path
            );
            assert!(r.params.iter().all(|(k, _)| k != "x"), "{tool}: {:?}", r.params);
        }
    }
    // A moved message's folder is looked up by its exact name, as an OData literal.
    let e = env
        .call(
            "mail_move_message",
            json!({"id": "msg-0001", "folder": "Projects' or 1 eq 1"}),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no top-level mail folder is named"), "{e}");
    let lookup = env.double.requests().last().cloned().unwrap();
    assert_eq!(
        lookup.param("$filter"),
        Some("displayName eq 'Projects'' or 1 eq 1'")
    );
}

#[tokio::test]
async fn attachments_are_read_within_limits_and_other_kinds_refused_by_name() {
    let (env, _) = env().await;
    let read = async |id: &str| {
        env.call(
            "mail_read_attachment",
            json!({"message_id": "msg-0012", "attachment_id": id}),
        )
        .await
    };
    let notes = read("att-12-docx").await.unwrap();
    assert_eq!(notes.structured["text"], "Notes: ship on May 4.");
    let report = read("att-12").await.unwrap();
    assert!(
        report.structured["text"]
            .as_str()
            .unwrap()
            .contains("Spend is on plan."),
        "{report:?}"
    );
    for (id, code, says) in [
        ("att-12-png", "unsupportedType", "image"),
        ("att-12-item", "unsupportedType", "attached Outlook item"),
        ("att-12-big", "tooLarge", "10240 KiB"),
        ("nope", "ErrorItemNotFound", "not found"),
    ] {
        env.double.clear_requests();
        let e = read(id).await.unwrap_err();
        assert_eq!(upstream_code(&e), code, "{id}: {e}");
        assert!(e.to_string().contains(says), "{id}: {e}");
        // Refused from the metadata: the content is never fetched.
        assert!(
            env.double.requests().len() <= 1,
            "{id}: {:?}",
            env.double.requests()
        );
    }
}

#[tokio::test]
async fn graph_refusals_of_writes_are_tool_errors_and_change_nothing() {
    let (env, _) = env().await;
    // Only the organizer may change or cancel a meeting; an organizer does not answer their own.
    let e = env
        .call(
            "calendar_cancel_event",
            json!({"id": "event-003", "comment": "no"}),
        )
        .await
        .unwrap_err();
    assert_eq!(upstream_code(&e), "ErrorInvalidRequest");
    assert!(e.to_string().contains("organizer"), "{e}");
    let e = env
        .call(
            "calendar_update_event",
            json!({"id": "event-003", "subject": "mine now"}),
        )
        .await
        .unwrap_err();
    assert_eq!(upstream_code(&e), "ErrorAccessDenied");
    let e = env
        .call(
            "calendar_respond_to_event",
            json!({"id": "event-mine", "response": "accept"}),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("organized"), "{e}");
    // Only a draft can be sent; a received message stays where it is.
    let e = env
        .call("mail_send_draft", json!({"id": "msg-0001"}))
        .await
        .unwrap_err();
    assert_eq!(upstream_code(&e), "ErrorInvalidOperation");
    let data = env.double.data();
    assert!(data.inbox.iter().any(|m| m["id"] == "msg-0001"));
    assert!(
        data.events
            .iter()
            .any(|e| e["id"] == "event-003" && e["subject"] != "mine now")
    );
    // An existing name is not overwritten unless asked.
    let args = json!({"name": "Notes.md", "content": "one"});
    env.ok("files_upload_text", args.clone()).await;
    let e = env.call("files_upload_text", args).await.unwrap_err();
    assert_eq!(upstream_code(&e), "nameAlreadyExists");
    let replaced = env
        .ok(
            "files_upload_text",
            json!({"name": "Notes.md", "content": "two", "on_conflict": "replace"}),
        )
        .await;
    assert_eq!(replaced["size_bytes"], 3);
    let notes: Vec<_> = env
        .double
        .data()
        .drive
        .into_iter()
        .filter(|(m, _)| m["name"] == "Notes.md")
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].1, b"two");
}

#[tokio::test]
async fn presence_of_an_unknown_colleague_is_a_gap_not_a_failure() {
    let (env, _) = env().await;
    let out = env
        .ok(
            "teams_get_presence",
            json!({"users": ["alex@contoso.example", "nobody@contoso.example"]}),
        )
        .await;
    assert_eq!(out["presence"][0]["availability"], "Busy");
    assert!(out["presence"][1]["availability"].is_null());
    assert!(
        out["presence"][1]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{out}"
    );
}

#[tokio::test]
async fn catch_me_up_keeps_what_it_read_when_a_source_fails_and_reports_progress() {
    let (env, _) = env().await;
    env.double
        .push_fault(FaultRule::on(Fault::Forbidden, "/me/todo/", u32::MAX));
    let sink = Arc::new(Progress::default());
    let mut ctx = ctx_for(caller("user-a"));
    ctx.progress = Some(sink.clone());
    let out = env
        .call_as(
            &ctx,
            "catch_me_up",
            json!({"since": (Timestamp::now() - jiff::SignedDuration::from_hours(6)).to_string()}),
        )
        .await
        .unwrap();
    let out = out.structured;
    assert!(out["tasks"].as_array().unwrap().is_empty());
    let gaps = out["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(
        gaps[0]
            .as_str()
            .unwrap()
            .starts_with("tasks: graph error ErrorAccessDenied"),
        "{gaps:?}"
    );
    assert_eq!(out["chats"].as_array().unwrap().len(), 3);
    assert_eq!(out["meetings"].as_array().unwrap().len(), 4);
    let steps = sink.0.lock().unwrap().clone();
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_eq!((steps[3].0, steps[3].1), (4.0, Some(4.0)));
    assert!(
        steps.iter().any(|(_, _, m)| m == "tasks: tasks unavailable"),
        "{steps:?}"
    );
}

/// catch_me_up reads a source only where the caller could call its tool: not for a tenant
/// without Teams, not for a tier without the To Do tools.
#[tokio::test]
async fn catch_me_up_reads_only_the_sources_the_caller_may_use() {
    let tier: mcp_tenancy_config::AccessTier = serde_json::from_value(json!({
        "name": "mail-and-calendar", "roles": ["*"], "tools": ["mail_*", "calendar_*", "catch_me_up"]
    }))
    .unwrap();
    let policy = ToolPolicy {
        tools: mcp_tenancy_config::ToolSets {
            teams: false,
            ..Default::default()
        },
        access: mcp_tenancy_config::AccessConfig {
            tiers: vec![tier],
            service_accounts: vec![],
        },
    };
    let env = env_with_deps(Arc::new(CountingProvider::default()), 10, Seed::default(), |d| {
        d.with_policy(policy)
    })
    .await;
    let mut caller = caller("user-a");
    caller.tiers = vec!["mail-and-calendar".into()];
    let out = env
        .call_as(&ctx_for(caller), "catch_me_up", json!({}))
        .await
        .unwrap()
        .structured;
    assert_eq!(
        out["skipped"],
        json!([
            "chats: teams_read_chat is not offered to you",
            "tasks: tasks_list_tasks is not offered to you"
        ])
    );
    assert!(!out["meetings"].as_array().unwrap().is_empty());
    assert!(
        env.double
            .requests()
            .iter()
            .all(|r| !r.path.contains("/chats") && !r.path.contains("/todo/")),
        "{:?}",
        env.double.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

/// Without `since`, the period starts at the user's previous sign-in when the server knows it.
#[tokio::test]
async fn catch_me_up_starts_at_the_previous_sign_in() {
    struct SignedInAt(Timestamp);
    #[async_trait]
    impl SignIns for SignedInAt {
        async fn previous_sign_in(&self, _: &Caller) -> Option<Timestamp> {
            Some(self.0)
        }
    }
    let at = Timestamp::from_second(Timestamp::now().as_second() - 3 * 3_600).unwrap();
    let env = env_with_deps(Arc::new(CountingProvider::default()), 10, Seed::default(), |d| {
        d.with_sign_ins(Arc::new(SignedInAt(at)))
    })
    .await;
    let out = env.ok("catch_me_up", json!({})).await;
    assert_eq!(out["since"], at.to_string());
    let mail = env
        .double
        .requests()
        .into_iter()
        .find(|r| r.path == "/me/mailFolders/inbox/messages")
        .unwrap();
    assert_eq!(
        mail.param("$filter").unwrap(),
        format!(
            "receivedDateTime ge {} and isRead eq false",
            at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    );
}
