//! Contacts, relevant people, a colleague's profile and direct reports.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{M365Deps, Tool, TypedTool, bounded, invalid, model::user_ref, typed};
use crate::{
    graph::{
        Endpoint, GraphRequest,
        odata::{Filter, MAX_SEARCH_CHARS, Query, kql_terms},
    },
    tools::{ToolContext, ToolError},
};

const CONTACTS: Endpoint = Endpoint::new("/me/contacts");
pub(super) const PEOPLE: Endpoint = Endpoint::new("/me/people");

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Name, part of a name, or e-mail address (prefix for contacts).
    pub query: String,
    /// Most results (1-50, default 10).
    #[schemars(range(min = 1, max = 50))]
    pub count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GContact {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email_addresses: Vec<super::model::GEmail>,
    #[serde(default)]
    business_phones: Vec<String>,
    #[serde(default)]
    mobile_phone: Option<String>,
    #[serde(default)]
    company_name: Option<String>,
    #[serde(default)]
    job_title: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ContactList {
    pub contacts: Vec<Contact>,
    pub more: bool,
}

pub struct ContactsSearch;

#[async_trait::async_trait]
impl TypedTool for ContactsSearch {
    type Deps = M365Deps;
    type Args = SearchArgs;
    type Output = ContactList;
    const NAME: &'static str = "contacts_search";
    const TITLE: &'static str = "Search contacts";
    const DESCRIPTION: &'static str = "Find people in the user's Outlook contacts whose name or e-mail address \
        starts with the query. Returns names, addresses, phones and company.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: SearchArgs,
    ) -> Result<(ContactList, String), ToolError> {
        let count = bounded("count", a.count, 10, 50)?;
        let q = a.query.trim();
        if q.is_empty() || q.chars().count() > MAX_SEARCH_CHARS {
            return Err(invalid(format!(
                "`query` must have 1 to {MAX_SEARCH_CHARS} characters"
            )));
        }
        let filter = Filter::starts_with("displayName", q)
            .or(Filter::starts_with("givenName", q))
            .or(Filter::starts_with("surname", q))
            .or(Filter::any_starts_with("emailAddresses", "address", q));
        let req = GraphRequest::get(CONTACTS, &[])?.query(
            Query::new()
                .filter(&filter)
                .select(&[
                    "id",
                    "displayName",
                    "emailAddresses",
                    "businessPhones",
                    "mobilePhone",
                    "companyName",
                    "jobTitle",
                ])
                .top(count),
        );
        let page = deps
            .graph
            .list::<GContact>(ctx.into(), &req, count as usize)
            .await?;
        let contacts: Vec<Contact> = page
            .items
            .into_iter()
            .map(|c| Contact {
                id: c.id,
                name: c.display_name.unwrap_or_default(),
                emails: c.email_addresses.into_iter().filter_map(|e| e.address).collect(),
                phones: c
                    .business_phones
                    .into_iter()
                    .chain(c.mobile_phone)
                    .filter(|p| !p.is_empty())
                    .collect(),
                company: c.company_name.filter(|s| !s.is_empty()),
                job_title: c.job_title.filter(|s| !s.is_empty()),
            })
            .collect();
        let mut text = format!("{} contact(s)", contacts.len());
        for c in &contacts {
            text.push_str(&format!("\n- {} {}", c.name, c.emails.join(", ")));
        }
        Ok((
            ContactList {
                contacts,
                more: page.more,
            },
            text,
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GPerson {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub scored_email_addresses: Vec<GScored>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GScored {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub relevance_score: Option<f64>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RelevantPerson {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Graph's relevance of this person to the user (higher: more contact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
}

impl From<GPerson> for RelevantPerson {
    fn from(p: GPerson) -> Self {
        let first = p.scored_email_addresses.into_iter().next();
        Self {
            name: p.display_name.unwrap_or_default(),
            address: first.as_ref().and_then(|s| s.address.clone()),
            job_title: p.job_title.filter(|s| !s.is_empty()),
            department: p.department.filter(|s| !s.is_empty()),
            company: p.company_name.filter(|s| !s.is_empty()),
            relevance: first.and_then(|s| s.relevance_score),
        }
    }
}

pub(crate) const PEOPLE_FIELDS: &[&str] = &[
    "displayName",
    "scoredEmailAddresses",
    "jobTitle",
    "department",
    "companyName",
];

#[derive(Debug, Serialize, JsonSchema)]
pub struct PeopleList {
    pub people: Vec<RelevantPerson>,
}

pub struct PeopleSearch;

#[async_trait::async_trait]
impl TypedTool for PeopleSearch {
    type Deps = M365Deps;
    type Args = SearchArgs;
    type Output = PeopleList;
    const NAME: &'static str = "people_search";
    const TITLE: &'static str = "Search people";
    const DESCRIPTION: &'static str = "Find people relevant to the user (colleagues and frequent contacts, ranked by \
        how much they work together) by name or address. Returns name, address, job title and department.";

    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        a: SearchArgs,
    ) -> Result<(PeopleList, String), ToolError> {
        let count = bounded("count", a.count, 10, 50)?;
        let kql = kql_terms(&a.query).map_err(invalid)?;
        let req =
            GraphRequest::get(PEOPLE, &[])?.query(Query::new().search(&kql).select(PEOPLE_FIELDS).top(count));
        let page = deps
            .graph
            .list::<GPerson>(ctx.into(), &req, count as usize)
            .await?;
        let people: Vec<RelevantPerson> = page.items.into_iter().map(RelevantPerson::from).collect();
        let mut text = format!("{} person(s)", people.len());
        for p in &people {
            text.push_str(&format!("\n- {} {}", p.name, p.address.as_deref().unwrap_or("")));
        }
        Ok((PeopleList { people }, text))
    }
}

const USER: Endpoint = Endpoint::new("/users/{id}");
const DIRECT_REPORTS: Endpoint = Endpoint::new("/users/{id}/directReports");
const MY_DIRECT_REPORTS: Endpoint = Endpoint::new("/me/directReports");

const PROFILE_FIELDS: &[&str] = &[
    "id",
    "displayName",
    "mail",
    "userPrincipalName",
    "jobTitle",
    "department",
    "officeLocation",
    "businessPhones",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GUser {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    mail: Option<String>,
    #[serde(default)]
    user_principal_name: Option<String>,
    #[serde(default)]
    job_title: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    office_location: Option<String>,
    #[serde(default)]
    business_phones: Vec<String>,
    #[serde(default)]
    manager: Option<Box<GUser>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Colleague {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
}

impl From<GUser> for Colleague {
    fn from(u: GUser) -> Self {
        Self {
            id: u.id,
            name: u.display_name.unwrap_or_default(),
            address: u.mail.or(u.user_principal_name),
            job_title: u.job_title,
            department: u.department,
            office: u.office_location,
            phones: u.business_phones,
        }
    }
}

impl Colleague {
    fn line(&self) -> String {
        let title = [self.job_title.as_deref(), self.department.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{} <{}> {title}",
            self.name,
            self.address.as_deref().unwrap_or("?")
        )
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileArgs {
    /// The colleague's address (user principal name) or Entra object id.
    #[schemars(length(min = 1, max = 256))]
    pub user: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Profile {
    #[serde(flatten)]
    pub person: Colleague,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<Colleague>,
}

pub struct GetProfile;

#[async_trait::async_trait]
impl TypedTool for GetProfile {
    type Deps = M365Deps;
    type Args = ProfileArgs;
    type Output = Profile;
    const NAME: &'static str = "people_get_profile";
    const TITLE: &'static str = "A colleague's profile";
    const DESCRIPTION: &'static str = "Look a colleague up in the organization's directory by address or id: name, \
        job title, department, office, phone, and their manager.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: ProfileArgs) -> Result<(Profile, String), ToolError> {
        let user = user_ref("user", &a.user)?;
        let req = GraphRequest::get(USER, &[user])?.query(
            Query::new()
                .select(PROFILE_FIELDS)
                .expand("manager($select=id,displayName,mail,jobTitle,department)"),
        );
        let mut u: GUser = deps.graph.send_as(ctx.into(), &req).await?;
        let manager = u.manager.take().map(|m| Colleague::from(*m));
        let profile = Profile {
            person: Colleague::from(u),
            manager,
        };
        let mut text = profile.person.line();
        if let Some(office) = &profile.person.office {
            text.push_str(&format!("\nOffice: {office}"));
        }
        if let Some(m) = &profile.manager {
            text.push_str(&format!("\nManager: {}", m.line()));
        }
        Ok((profile, text))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportsArgs {
    /// Whose reports: a colleague's address or id (default: the user's own).
    #[schemars(length(min = 1, max = 256))]
    pub user: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Reports {
    pub reports: Vec<Colleague>,
    pub more: bool,
}

pub struct ListDirectReports;

#[async_trait::async_trait]
impl TypedTool for ListDirectReports {
    type Deps = M365Deps;
    type Args = ReportsArgs;
    type Output = Reports;
    const NAME: &'static str = "people_list_direct_reports";
    const TITLE: &'static str = "Direct reports";
    const DESCRIPTION: &'static str = "List the people who report to the user, or to a colleague (by address or \
        id), with job titles and departments.";

    async fn run(deps: &M365Deps, ctx: &ToolContext, a: ReportsArgs) -> Result<(Reports, String), ToolError> {
        let req = match a.user.as_deref() {
            Some(u) => GraphRequest::get(DIRECT_REPORTS, &[user_ref("user", u)?])?,
            None => GraphRequest::get(MY_DIRECT_REPORTS, &[])?,
        }
        .query(Query::new().select(&[
            "id",
            "displayName",
            "mail",
            "userPrincipalName",
            "jobTitle",
            "department",
        ]));
        let page = deps.graph.list::<GUser>(ctx.into(), &req, 100).await?;
        let reports: Vec<Colleague> = page.items.into_iter().map(Colleague::from).collect();
        let mut text = format!("{} direct report(s)", reports.len());
        for r in &reports {
            text.push_str(&format!("\n- {}", r.line()));
        }
        Ok((
            Reports {
                reports,
                more: page.more,
            },
            text,
        ))
    }
}

/// The tools of this module.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<ContactsSearch>(deps.clone()),
        typed::<PeopleSearch>(deps.clone()),
        typed::<GetProfile>(deps.clone()),
        typed::<ListDirectReports>(deps.clone()),
    ]
}
