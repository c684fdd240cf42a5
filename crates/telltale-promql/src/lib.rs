//! A PromQL subset evaluator over an in-memory series store, and a runner for promtool's
//! `test rules` unit-test files (`rule_files`, `input_series`, `alert_rule_test`,
//! `promql_expr_test`).
//!
//! The engine follows Prometheus 2.42's semantics (the `promtool` Debian bookworm ships, which
//! the repository's agreement test runs on every rule test). What it does not implement it
//! refuses with [`Error::Unsupported`], naming the construct: it never guesses an answer.
//!
//! Parsing is `promql-parser`'s; its types stay inside this crate.

mod deps;
mod engine;
mod notation;
mod rules;
mod store;
mod template;
mod unittest;

pub use deps::{rule_file_dependencies, RuleDependencies};
pub use engine::{query, QueryResult, Sample};
pub use store::{Labels, Store};
pub use unittest::{run_file, FileReport, GroupReport, GroupVerdict};

/// Everything that can go wrong loading or evaluating rules and their tests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A construct this engine does not implement (a function, an operator, a modifier, a
    /// template action); never answered with a guess.
    #[error("unsupported {construct} (telltale's PromQL subset does not implement it)")]
    Unsupported {
        /// What was refused, as written (`function holt_winters`, `@ modifier`…).
        construct: String,
    },
    /// A PromQL expression did not parse.
    #[error("parse PromQL {expr:?}: {message}")]
    Parse {
        /// The expression.
        expr: String,
        /// The parser's own words.
        message: String,
    },
    /// Evaluation failed as Prometheus's would (many-to-many matching, duplicate label sets).
    #[error("evaluate: {message}")]
    Eval {
        /// What Prometheus would have said.
        message: String,
    },
    /// A rule file or test file is malformed.
    #[error("read {file}: {message}")]
    File {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A series' values in the expanding notation did not parse.
    #[error("parse series values {values:?}: {message}")]
    Notation {
        /// The values as written.
        values: String,
        /// What is wrong.
        message: String,
    },
    /// A template in an annotation or label did not parse or expand.
    #[error("expand template {template:?}: {message}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn unsupported(construct: impl Into<String>) -> Self {
        Error::Unsupported {
            construct: construct.into(),
        }
    }

    pub(crate) fn eval(message: impl Into<String>) -> Self {
        Error::Eval {
            message: message.into(),
        }
    }

    /// True when the engine refused a construct it does not implement (so the test could not
    /// be run, which is not the same as the test failing).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported { .. })
    }
}
