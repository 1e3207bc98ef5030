//! The admin tools of Builtin mode: which clients and devices hold a user's sign-in, and ending
//! them (a lost laptop, a leaver, a leaked token). Only a tier that requires MFA and names them
//! reaches them (see [`crate::authz::decide`]); every revocation is audited with who did it.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    Tool, ToolContext, ToolError,
    typed::{TypedTool, typed},
};
use crate::oauth::{
    AuthServer,
    grants::{Grant, GrantError},
};

/// The longest user (sign-in name or object id) the tools look up.
const MAX_USER_CHARS: usize = 256;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListGrantsArgs {
    /// The user: their sign-in name (`ada@contoso.com`, any case) or Entra object id.
    #[schemars(length(min = 1, max = 256))]
    pub user: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RevokeGrantsArgs {
    /// The user: their sign-in name (`ada@contoso.com`, any case) or Entra object id.
    #[schemars(length(min = 1, max = 256))]
    pub user: String,
    /// One grant to end (an `id` from admin_list_grants); without it, every grant of the user.
    #[schemars(length(min = 1, max = 64))]
    pub grant_id: Option<String>,
}

/// One client or device signed in as the user.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantSummary {
    pub id: String,
    pub client_id: String,
    pub client_name: Option<String>,
    /// `browser` or `device`.
    pub kind: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub last_used_at: u64,
}

impl From<&Grant> for GrantSummary {
    fn from(g: &Grant) -> Self {
        Self {
            id: g.id.clone(),
            client_id: g.client_id.clone(),
            client_name: g.client_name.clone(),
            kind: g.kind.clone(),
            created_at: g.created_at,
            last_used_at: g.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserGrants {
    pub user: String,
    /// Most recently used first.
    pub grants: Vec<GrantSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub user: String,
    /// The grants ended: their clients' refresh and access tokens no longer work.
    pub revoked: Vec<GrantSummary>,
}

fn store_error(ctx: &ToolContext, error: GrantError) -> ToolError {
    tracing::error!(%error, request_id = %ctx.request_id, "admin tool: grant records");
    ToolError::Internal {
        request_id: ctx.request_id.clone(),
    }
}

/// The grants of `user`, found by sign-in name or object id.
async fn grants_of(server: &AuthServer, ctx: &ToolContext, user: &str) -> Result<Vec<Grant>, ToolError> {
    let user = user.trim();
    if user.is_empty() || user.chars().count() > MAX_USER_CHARS {
        return Err(ToolError::InvalidArguments(format!(
            "`user` must be a sign-in name or object id of 1 to {MAX_USER_CHARS} characters"
        )));
    }
    let Some(key) = server
        .grants
        .user_by_alias(user)
        .await
        .map_err(|e| store_error(ctx, e))?
    else {
        return Err(ToolError::InvalidArguments(format!(
            "`user`: nobody has signed in to this server as {user:?}"
        )));
    };
    server
        .grants
        .user_grants(&key)
        .await
        .map_err(|e| store_error(ctx, e))
}

pub struct AdminListGrants;

#[async_trait::async_trait]
impl TypedTool for AdminListGrants {
    type Deps = Arc<AuthServer>;
    type Args = ListGrantsArgs;
    type Output = UserGrants;
    const NAME: &'static str = "admin_list_grants";
    const TITLE: &'static str = "List a user's connected apps";
    const DESCRIPTION: &'static str = "Administrators only (MFA): lists the MCP clients and devices \
        that hold a sign-in of a user of this server, given their sign-in name or Entra object id, \
        with when each was connected and last used. Use admin_revoke_grants to end them.";

    async fn run(
        server: &Arc<AuthServer>,
        ctx: &ToolContext,
        args: ListGrantsArgs,
    ) -> Result<(UserGrants, String), ToolError> {
        let grants = grants_of(server, ctx, &args.user).await?;
        let text = format!("{} holds {} connected app(s)", args.user.trim(), grants.len());
        Ok((
            UserGrants {
                user: args.user.trim().to_owned(),
                grants: grants.iter().map(GrantSummary::from).collect(),
            },
            text,
        ))
    }
}

pub struct AdminRevokeGrants;

#[async_trait::async_trait]
impl TypedTool for AdminRevokeGrants {
    type Deps = Arc<AuthServer>;
    type Args = RevokeGrantsArgs;
    type Output = Revoked;
    const NAME: &'static str = "admin_revoke_grants";
    const TITLE: &'static str = "Revoke a user's connected apps";
    const DESCRIPTION: &'static str = "Administrators only (MFA): ends one sign-in (grantId, from \
        admin_list_grants) or every sign-in of a user, given their sign-in name or Entra object \
        id. Their clients' tokens stop working at once; the user can sign in again.";

    async fn run(
        server: &Arc<AuthServer>,
        ctx: &ToolContext,
        args: RevokeGrantsArgs,
    ) -> Result<(Revoked, String), ToolError> {
        let mut grants = grants_of(server, ctx, &args.user).await?;
        if let Some(id) = &args.grant_id {
            if id.is_empty() || id.len() > 64 {
                return Err(ToolError::InvalidArguments(
                    "`grantId` must be an id of 1 to 64 characters from admin_list_grants".into(),
                ));
            }
            grants.retain(|g| &g.id == id);
            if grants.is_empty() {
                return Err(ToolError::InvalidArguments(format!(
                    "`grantId`: {} holds no grant {id:?}; list them with admin_list_grants",
                    args.user.trim()
                )));
            }
        }
        let actor = ctx.caller.subject.as_str();
        for grant in &grants {
            server
                .grants
                .revoke(grant, "admin", actor)
                .await
                .map_err(|e| store_error(ctx, e))?;
        }
        let text = format!("ended {} connected app(s) of {}", grants.len(), args.user.trim());
        Ok((
            Revoked {
                user: args.user.trim().to_owned(),
                revoked: grants.iter().map(GrantSummary::from).collect(),
            },
            text,
        ))
    }
}

/// The admin tools over Builtin mode's authorization server.
pub fn tools(server: &Arc<AuthServer>) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<AdminListGrants>(server.clone()),
        typed::<AdminRevokeGrants>(server.clone()),
    ]
}
