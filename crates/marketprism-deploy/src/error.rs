//! Deployment failures: each names the step, the cause and the fix.

use std::fmt;

/// A deployment step failed.
#[derive(Debug)]
pub struct DeployError {
    /// The step, e.g. `starting NATS`.
    pub step: String,
    /// What went wrong.
    pub cause: String,
    /// What the operator can do about it.
    pub fix: String,
}

impl DeployError {
    /// An error for `step` with its cause and fix.
    pub fn new(step: impl Into<String>, cause: impl fmt::Display, fix: impl Into<String>) -> Self {
        DeployError {
            step: step.into(),
            cause: cause.to_string(),
            fix: fix.into(),
        }
    }

    /// An error for `step` whose cause is `error` and every error beneath it, e.g. `cannot
    /// write config/storage.toml: Permission denied (os error 13)`.
    pub(crate) fn caused_by(
        step: impl Into<String>,
        error: &dyn std::error::Error,
        fix: impl Into<String>,
    ) -> Self {
        let mut cause = error.to_string();
        let mut source = error.source();
        while let Some(error) = source {
            cause.push_str(&format!(": {error}"));
            source = error.source();
        }
        DeployError::new(step, cause, fix)
    }
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {}\n  fix: {}",
            self.step, self.cause, self.fix
        )
    }
}

impl std::error::Error for DeployError {}
