//! The tenant Namespace and the server's ServiceAccount.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};

use super::{
    BuildError, Child, ChildRole,
    meta::SERVER_NAME,
    meta::{Context, SERVER, typed_child},
};

/// The Namespace, enforcing the `restricted` Pod Security Standard so that no pod in it, ours or
/// anyone's, can run privileged.
pub(crate) fn build_namespace(ctx: &Context) -> Result<Child, BuildError> {
    let mut meta = ctx.namespace_meta();
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for mode in ["enforce", "audit", "warn"] {
        labels.insert(format!("pod-security.kubernetes.io/{mode}"), "restricted".into());
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            "latest".into(),
        );
    }
    typed_child(
        ChildRole::Namespace,
        &Namespace {
            metadata: meta,
            ..Namespace::default()
        },
    )
}

/// The server's identity. It never talks to the API server, so it gets no token.
pub(crate) fn build_service_account(ctx: &Context) -> Result<Child, BuildError> {
    typed_child(
        ChildRole::ServiceAccount,
        &ServiceAccount {
            metadata: ctx.meta(SERVER_NAME, SERVER),
            automount_service_account_token: Some(false),
            ..ServiceAccount::default()
        },
    )
}
