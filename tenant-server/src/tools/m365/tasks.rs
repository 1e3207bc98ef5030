//! Microsoft To Do: task lists, tasks, creating and completing them.

use std::sync::Arc;

use jiff::civil::{Date, DateTime};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{M365Deps, bounded, calendar::time_zone, invalid};
use crate::{
    graph::{
        Endpoint, GraphRequest,
        odata::{Filter, Query},
    },
    tools::{
        Tool, ToolContext, ToolError,
        typed::{TypedTool, typed},
    },
};

const LISTS: Endpoint = Endpoint::new("/me/todo/lists");
const TASKS: Endpoint = Endpoint::new("/me/todo/lists/{id}/tasks");
const TASK: Endpoint = Endpoint::new("/me/todo/lists/{id}/tasks/{id}");

/// Most tasks read from one list before filtering by due date.
const SCAN: usize = 200;
/// Longest task title To Do shows in full.
const MAX_TITLE_CHARS: usize = 255;
/// Longest note on a task.
const MAX_NOTE_CHARS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GList {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    is_owner: bool,
    #[serde(default)]
    is_shared: bool,
    #[serde(default)]
    wellknown_list_name: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskList {
    pub id: String,
    pub name: String,
    /// The user's default list ("Tasks"), where tasks go when no list is named.
    pub is_default: bool,
    pub is_shared: bool,
    pub is_owner: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskLists {
    pub lists: Vec<TaskList>,
    pub more: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListListsArgs {
    /// Most lists (1-100, default 50).
    #[schemars(range(min = 1, max = 100))]
    pub count: Option<u32>,
}

pub struct ListTaskLists;

#[async_trait::async_trait]
impl TypedTool for ListTaskLists {
    type Deps = M365Deps;
    type Args = ListListsArgs;
    type Output = TaskLists;
    const NAME: &'static str = "tasks_list_lists";
    const TITLE: &'static str = "List to-do lists";
    const DESCRIPTION: &'static str = "List the user's Microsoft To Do lists (their default \"Tasks\" list, their \
        own and shared lists) with ids for tasks_list_tasks and tasks_create_task.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: ListListsArgs,
    ) -> Result<(TaskLists, String), ToolError> {
        let count = bounded("count", a.count, 50, 100)?;
        let req = GraphRequest::get(LISTS, &[])?.query(Query::new().top(count));
        let page = deps.graph.list::<GList>(ctx.into(), &req, count as usize).await?;
        let lists: Vec<TaskList> = page
            .items
            .into_iter()
            .map(|l| TaskList {
                is_default: l.wellknown_list_name.as_deref() == Some("defaultList"),
                id: l.id,
                name: l.display_name.unwrap_or_default(),
                is_shared: l.is_shared,
                is_owner: l.is_owner,
            })
            .collect();
        let mut text = format!("{} list(s)", lists.len());
        for l in &lists {
            let default = if l.is_default { ", default" } else { "" };
            text.push_str(&format!("\n- {} (id {}{default})", l.name, l.id));
        }
        Ok((
            TaskLists {
                lists,
                more: page.more,
            },
            text,
        ))
    }
}

/// The list `list_id` names, or the user's default list (looked up by its well-known name).
async fn list_or_default(
    deps: &M365Deps,
    ctx: &ToolContext,
    list_id: Option<&str>,
) -> Result<String, ToolError> {
    if let Some(id) = list_id {
        return Ok(id.to_owned());
    }
    let req = GraphRequest::get(LISTS, &[])?
        .query(Query::new().filter(&Filter::eq_str("wellknownListName", "defaultList")));
    let page = deps.graph.list::<GList>(ctx.into(), &req, 1).await?;
    page.items
        .into_iter()
        .next()
        .map(|l| l.id)
        .ok_or_else(|| invalid("the user has no default To Do list; pass `list_id` from tasks_list_lists"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GTask {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    importance: Option<String>,
    #[serde(default)]
    due_date_time: Option<GDateTimeZone>,
    #[serde(default)]
    reminder_date_time: Option<GDateTimeZone>,
    #[serde(default)]
    is_reminder_on: bool,
    #[serde(default)]
    body: Option<GTaskBody>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GDateTimeZone {
    #[serde(default)]
    date_time: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GTaskBody {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Task {
    pub id: String,
    pub title: String,
    /// `notStarted`, `inProgress`, `completed`, `waitingOnOthers` or `deferred`.
    pub status: String,
    pub importance: String,
    /// The due day, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// When To Do reminds the user (local date-time), if a reminder is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminder: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl From<GTask> for Task {
    fn from(t: GTask) -> Self {
        Self {
            id: t.id,
            title: t.title.unwrap_or_default(),
            status: t.status.unwrap_or_else(|| "notStarted".into()),
            importance: t.importance.unwrap_or_else(|| "normal".into()),
            due: t
                .due_date_time
                .and_then(|d| d.date_time)
                .map(|d| d.chars().take(10).collect()),
            reminder: t
                .reminder_date_time
                .filter(|_| t.is_reminder_on)
                .and_then(|d| d.date_time)
                .map(|d| d.chars().take(19).collect()),
            note: t
                .body
                .and_then(|b| b.content)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    /// Not completed (default).
    #[default]
    Open,
    Completed,
    All,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasksArgs {
    /// List id from tasks_list_lists (default: the user's default list).
    #[schemars(length(min = 1, max = 512))]
    pub list_id: Option<String>,
    /// `open` (default), `completed` or `all`.
    #[serde(default)]
    pub status: Which,
    /// Only tasks due on or before this day (`YYYY-MM-DD`); tasks without a due date are left out.
    pub due_by: Option<String>,
    /// Most tasks, soonest due first (1-100, default 25).
    #[schemars(range(min = 1, max = 100))]
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Tasks {
    pub list_id: String,
    /// Soonest due first; tasks without a due date last.
    pub tasks: Vec<Task>,
    pub more: bool,
}

fn day(name: &str, s: &str) -> Result<Date, ToolError> {
    s.parse::<Date>()
        .map_err(|e| invalid(format!("`{name}` must be a day like 2026-05-04: {e}")))
}

pub struct ListTasks;

#[async_trait::async_trait]
impl TypedTool for ListTasks {
    type Deps = M365Deps;
    type Args = ListTasksArgs;
    type Output = Tasks;
    const NAME: &'static str = "tasks_list_tasks";
    const TITLE: &'static str = "List tasks";
    const DESCRIPTION: &'static str = "List the tasks of a To Do list (default: the user's default list): open ones \
        by default, soonest due first, optionally only those due by a day. Returns title, status, due day, \
        reminder and note.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: ListTasksArgs) -> Result<(Tasks, String), ToolError> {
        let count = bounded("count", a.count, 25, 100)? as usize;
        let due_by = a.due_by.as_deref().map(|d| day("due_by", d)).transpose()?;
        let list_id = list_or_default(deps, ctx, a.list_id.as_deref()).await?;
        let mut query = Query::new().top(SCAN as u32);
        match a.status {
            Which::Open => query = query.filter(&Filter::ne_str("status", "completed")),
            Which::Completed => query = query.filter(&Filter::eq_str("status", "completed")),
            Which::All => {}
        }
        let req = GraphRequest::get(TASKS, &[list_id.as_str()])?.query(query);
        let page = deps.graph.list::<GTask>(ctx.into(), &req, SCAN).await?;
        let mut tasks: Vec<Task> = page.items.into_iter().map(Task::from).collect();
        if let Some(by) = due_by {
            let by = by.to_string();
            tasks.retain(|t| t.due.as_deref().is_some_and(|d| d <= by.as_str()));
        }
        // Soonest due first, undated last; ISO days sort as strings.
        tasks.sort_by(|x, y| match (&x.due, &y.due) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let more = page.more || tasks.len() > count;
        tasks.truncate(count);
        let mut text = format!(
            "{} task(s){}",
            tasks.len(),
            if more { " (more exist)" } else { "" }
        );
        for t in &tasks {
            let due = t.due.as_deref().map(|d| format!(", due {d}")).unwrap_or_default();
            text.push_str(&format!("\n- {} ({}{due}, id {})", t.title, t.status, t.id));
        }
        Ok((Tasks { list_id, tasks, more }, text))
    }
}

/// Open tasks of the user's default list due on or before `by`, soonest first (catch_me_up).
pub(super) async fn due_tasks(deps: &M365Deps, ctx: &ToolContext, by: Date) -> Result<Vec<Task>, ToolError> {
    let list_id = list_or_default(deps, ctx, None).await?;
    let req = GraphRequest::get(TASKS, &[list_id.as_str()])?.query(
        Query::new()
            .top(SCAN as u32)
            .filter(&Filter::ne_str("status", "completed")),
    );
    let page = deps.graph.list::<GTask>(ctx.into(), &req, SCAN).await?;
    let by = by.to_string();
    let mut tasks: Vec<Task> = page
        .items
        .into_iter()
        .map(Task::from)
        .filter(|t| t.due.as_deref().is_some_and(|d| d <= by.as_str()))
        .collect();
    tasks.sort_by(|a, b| a.due.cmp(&b.due));
    Ok(tasks)
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskImportance {
    Low,
    #[default]
    Normal,
    High,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskArgs {
    /// List id from tasks_list_lists (default: the user's default list).
    #[schemars(length(min = 1, max = 512))]
    pub list_id: Option<String>,
    /// What to do (at most 255 characters).
    pub title: String,
    /// The due day, `YYYY-MM-DD`.
    pub due: Option<String>,
    /// When to remind the user: a local date-time in `time_zone`, e.g. `2026-05-04T09:00:00`.
    pub reminder: Option<String>,
    /// IANA or Windows time zone of `due` and `reminder` (default `UTC`).
    pub time_zone: Option<String>,
    #[serde(default)]
    pub importance: TaskImportance,
    /// A note on the task (plain text).
    pub note: Option<String>,
}

pub struct CreateTask;

#[async_trait::async_trait]
impl TypedTool for CreateTask {
    type Deps = M365Deps;
    type Args = CreateTaskArgs;
    type Output = Task;
    const NAME: &'static str = "tasks_create_task";
    const TITLE: &'static str = "Add a task";
    const DESCRIPTION: &'static str = "Add a task to a To Do list (default: the user's default list), with an \
        optional due day, reminder, importance and note. Returns the created task.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: CreateTaskArgs) -> Result<(Task, String), ToolError> {
        let title = a.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(invalid(format!("`title`: 1-{MAX_TITLE_CHARS} characters")));
        }
        let tz = time_zone(a.time_zone.as_deref())?;
        let mut body = json!({"title": title, "importance": match a.importance {
            TaskImportance::Low => "low",
            TaskImportance::Normal => "normal",
            TaskImportance::High => "high",
        }});
        if let Some(due) = &a.due {
            let due = day("due", due)?;
            body["dueDateTime"] = json!({"dateTime": due.at(0, 0, 0, 0).to_string(), "timeZone": tz});
        }
        if let Some(reminder) = &a.reminder {
            let at: DateTime = reminder.trim_end_matches('Z').parse().map_err(|e| {
                invalid(format!(
                    "`reminder` must be a local date-time like 2026-05-04T09:00:00: {e}"
                ))
            })?;
            body["isReminderOn"] = json!(true);
            body["reminderDateTime"] = json!({"dateTime": at.to_string(), "timeZone": tz});
        }
        if let Some(note) = &a.note {
            if note.chars().count() > MAX_NOTE_CHARS {
                return Err(invalid(format!("`note`: at most {MAX_NOTE_CHARS} characters")));
            }
            body["body"] = json!({"content": note, "contentType": "text"});
        }
        let list_id = list_or_default(deps, ctx, a.list_id.as_deref()).await?;
        let req = GraphRequest::post(TASKS, &[list_id.as_str()], body)?;
        let t: GTask = deps.graph.send_as(ctx.into(), &req).await?;
        let task = Task::from(t);
        let due = task
            .due
            .as_deref()
            .map(|d| format!(", due {d}"))
            .unwrap_or_default();
        let text = format!("Added \"{}\"{due} (id {}).", task.title, task.id);
        Ok((task, text))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteTaskArgs {
    /// The task's list (default: the user's default list).
    #[schemars(length(min = 1, max = 512))]
    pub list_id: Option<String>,
    /// The task's id from tasks_list_tasks.
    #[schemars(length(min = 1, max = 512))]
    pub task_id: String,
}

pub struct CompleteTask;

#[async_trait::async_trait]
impl TypedTool for CompleteTask {
    type Deps = M365Deps;
    type Args = CompleteTaskArgs;
    type Output = Task;
    const NAME: &'static str = "tasks_complete_task";
    const TITLE: &'static str = "Complete a task";
    const DESCRIPTION: &'static str = "Mark a To Do task completed. Returns the task.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: CompleteTaskArgs,
    ) -> Result<(Task, String), ToolError> {
        let list_id = list_or_default(deps, ctx, a.list_id.as_deref()).await?;
        let req = GraphRequest::patch(
            TASK,
            &[list_id.as_str(), a.task_id.as_str()],
            json!({"status": "completed"}),
        )?;
        let t: GTask = deps.graph.send_as(ctx.into(), &req).await?;
        let task = Task::from(t);
        let text = format!("Completed \"{}\".", task.title);
        Ok((task, text))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ListTaskLists>(deps.clone()),
        typed::<ListTasks>(deps.clone()),
        typed::<CreateTask>(deps.clone()),
        typed::<CompleteTask>(deps.clone()),
    ]
}
