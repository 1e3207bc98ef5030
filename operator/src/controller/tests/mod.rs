//! Controller tests against a mocked API server: one scripted scenario per case.

pub mod fixtures;
mod leader;
mod mock;
mod reconcile;
