//! Controller tests against a mocked API server: one scripted scenario per case.

pub mod fixtures;
mod mock;
mod reconcile;
